// Command gearmand runs the Gearman job server of package gearman.
//
//	go run ./cmd/gearmand                 # serve on 127.0.0.1:4730
//	gearmand -L 0.0.0.0 -p 4730 --job-retries 3 --verbose INFO
//
// Flags follow the C gearmand's where they mean the same; each may be given
// with one dash or two. SIGINT and SIGTERM stop the server at once (jobs in
// memory are lost, as with gearmand); SIGUSR1 stops it gracefully: no new
// connections or assignments, and exit once running jobs have ended.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/seed749d6d6d/gearman"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gearmand:", err)
		os.Exit(1)
	}
}

// levels maps gearmand's --verbose names to slog levels.
var levels = map[string]slog.Level{
	"FATAL": slog.LevelError + 4, "ALERT": slog.LevelError + 4, "CRITICAL": slog.LevelError + 4,
	"ERROR": slog.LevelError, "WARNING": slog.LevelWarn, "NOTICE": slog.LevelInfo,
	"INFO": slog.LevelInfo, "DEBUG": slog.LevelDebug,
}

func run(args []string) error {
	fs := flag.NewFlagSet("gearmand", flag.ContinueOnError)
	var (
		listen, logFile, verbose, prefix  string
		sslCert, sslKey, sslCA, cpuProf   string
		port, retries, maxConns, maxQueue int
		threads                           int
		maxPacket                         int64
		useSSL, exceptions, shutdownCmd   bool
		storeURL                          string
		salvage                           bool
	)
	str := func(p *string, def, usage string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, def, usage)
		}
	}
	integer := func(p *int, def int, usage string, names ...string) {
		for _, n := range names {
			fs.IntVar(p, n, def, usage)
		}
	}
	str(&listen, "127.0.0.1", "address to listen on", "L", "listen")
	integer(&port, 4730, "port to listen on", "p", "port")
	integer(&retries, 0, "attempts a job gets when workers disconnect while running it (0 = no limit)", "j", "job-retries")
	str(&verbose, "ERROR", "log level: FATAL, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO or DEBUG", "verbose")
	str(&logFile, "stderr", `log file, "stderr" or "none"`, "l", "log-file")
	str(&prefix, "", `job handle prefix (default "H:" + host name)`, "job-handle-prefix")
	fs.BoolVar(&useSSL, "ssl", false, "serve TLS only (needs --ssl-cert and --ssl-key)")
	str(&sslCert, os.Getenv("GEARMAND_SERVER_PEM"), "TLS certificate file (PEM)", "ssl-cert", "ssl-server-cert")
	str(&sslKey, os.Getenv("GEARMAND_SERVER_KEY"), "TLS key file (PEM)", "ssl-key", "ssl-server-key")
	str(&sslCA, os.Getenv("GEARMAND_CA_CERTIFICATE"), "CA file: when set, clients must present a certificate it signed", "ssl-ca-file")
	fs.Int64Var(&maxPacket, "max-packet-size", 256<<20+64<<10, "largest packet body accepted, in bytes")
	integer(&maxConns, 0, "most connections at once (0 = no limit)", "max-connections")
	integer(&maxQueue, 0, "initial maxqueue limit of every function (0 = no limit)", "max-queue")
	integer(&threads, 0, "accepted for compatibility with gearmand; ignored", "t", "threads")
	fs.BoolVar(&exceptions, "exceptions", false, "turn the exceptions option on for every connection")
	fs.BoolVar(&shutdownCmd, "enable-shutdown", false, `accept the admin commands "shutdown" and "shutdown graceful"`)
	str(&cpuProf, "", "write a CPU profile to this file until exit", "cpuprofile")
	str(&storeURL, "", "keep background jobs across restarts: file:PATH for the embedded store in directory PATH (default: in memory only)", "store")
	fs.BoolVar(&salvage, "store-salvage", false, "open a damaged store anyway, skipping the damaged records")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}

	level, ok := levels[strings.ToUpper(verbose)]
	if !ok {
		return fmt.Errorf("unknown --verbose level %q", verbose)
	}
	var logger *slog.Logger
	if logFile != "none" {
		var w io.Writer = os.Stderr
		if logFile != "stderr" && logFile != "" {
			f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	}

	srv := &gearman.Server{
		Addr:                  net.JoinHostPort(listen, strconv.Itoa(port)),
		MaxPacketSize:         maxPacket,
		MaxConnections:        maxConns,
		MaxQueue:              maxQueue,
		JobRetries:            retries,
		HandlePrefix:          prefix,
		Exceptions:            exceptions,
		EnableShutdownCommand: shutdownCmd,
		Logger:                logger,
	}
	if storeURL != "" {
		st, err := gearman.OpenStore(context.Background(), storeURL, &gearman.StoreOptions{Salvage: salvage, Logger: logger})
		if err != nil {
			return err
		}
		srv.Store = st
	}
	if useSSL {
		cfg, err := tlsConfig(sslCert, sslKey, sslCA)
		if err != nil {
			return err
		}
		srv.TLSConfig = cfg
	}

	if cpuProf != "" {
		f, err := os.Create(cpuProf)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, append(stopSignals, gracefulSignals...)...)
	defer signal.Stop(sigs)
	stopped := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				if isGraceful(sig) {
					if logger != nil {
						logger.Info("graceful shutdown", "signal", sig.String())
					}
					go srv.Shutdown(context.Background())
					continue
				}
				if logger != nil {
					logger.Info("shutting down", "signal", sig.String())
				}
				srv.Close()
				return
			case <-stopped:
				return
			}
		}
	}()
	if logger != nil {
		logger.Info("listening", "addr", srv.Addr, "tls", useSSL)
	}
	err := srv.ListenAndServe()
	close(stopped)
	srv.Close()
	if errors.Is(err, gearman.ErrServerClosed) {
		return nil
	}
	return err
}

// tlsConfig loads the server certificate and, when ca is set, requires
// client certificates signed by it (as gearmand's --ssl does with a CA).
func tlsConfig(cert, key, ca string) (*tls.Config, error) {
	if cert == "" || key == "" {
		return nil, errors.New("--ssl needs --ssl-cert and --ssl-key")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", ca)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
