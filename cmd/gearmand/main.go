// Command gearmand runs the Gearman job server of package gearman.
//
//	go run ./cmd/gearmand                 # serve on 127.0.0.1:4730
//	gearmand -L 0.0.0.0 -p 4730 --job-retries 3 --verbose INFO
//
// Flags follow the C gearmand's where they mean the same; each may be given
// with one dash or two.
//
// # Logging
//
// At start the server logs one line at level INFO, whatever --verbose says
// (unless --log-file is "none"): the address it serves, as bound (with -p 0,
// the port the system chose), whether it takes TLS, and where jobs are kept:
//
//	time=... level=INFO msg=serving addr=127.0.0.1:4730 tls=false store="in memory"
//
// Everything else is logged at the --verbose level (default ERROR, which
// leaves a healthy server quiet).
//
// # Signals
//
// As in gearmand, SIGTERM and SIGINT stop the server at once: connections
// are closed and the jobs in memory are lost. SIGUSR1 stops it gracefully,
// as does the admin command "shutdown graceful" (with --enable-shutdown):
// the listener closes, no job is handed out any more and new submits get
// ERROR SHUTDOWN_GRACEFUL; the running jobs may finish, their results are
// sent to their clients (for up to 5 s), and then the process exits. Queued
// jobs that no worker started are lost; idle connections do not hold the
// stop up. A second signal of any of the three during a graceful stop stops
// the server at once. The exit code is 0 for every stop asked for this way.
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
	"sync"

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
	// logger is the server's, at the --verbose level; banner writes the one
	// line at start that says what is served, whatever the level.
	var logger, banner *slog.Logger
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
		banner = slog.New(slog.NewTextHandler(w, nil))
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

	l, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	if banner != nil {
		banner.Info("serving", startAttrs([]net.Addr{l.Addr()}, useSSL, "in memory")...)
	}
	return serve(srv, l, logger)
}

// startAttrs are the attributes of the line logged at start: the addresses
// served (as bound: a port 0 shows the port chosen), whether they take TLS,
// and where jobs are kept.
func startAttrs(addrs []net.Addr, tls bool, store string) []any {
	list := make([]string, len(addrs))
	for i, a := range addrs {
		list[i] = a.String()
	}
	return []any{"addr", strings.Join(list, ","), "tls", tls, "store", store}
}

// serve runs srv on l until a signal or an admin command stops it. After a
// graceful stop (SIGUSR1 or "shutdown graceful") it returns only once the
// running jobs have ended and their results have been sent; a second signal
// meanwhile stops the server at once. A stop that was asked for returns nil.
func serve(srv *gearman.Server, l net.Listener, logger *slog.Logger) error {
	stopNow, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, append(stopSignals, gracefulSignals...)...)
	defer signal.Stop(sigs)
	served := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		draining := false
		for {
			select {
			case sig := <-sigs:
				if isGraceful(sig) && !draining {
					draining = true
					logInfo(logger, "graceful shutdown: waiting for running jobs to end", "signal", sig.String())
					wg.Add(1)
					go func() {
						defer wg.Done()
						srv.Shutdown(stopNow)
					}()
					continue
				}
				if draining {
					logInfo(logger, "stopping at once: a second signal during a graceful shutdown", "signal", sig.String())
				} else {
					logInfo(logger, "shutting down", "signal", sig.String())
				}
				cancel()
				srv.Close()
				return
			case <-served:
				return
			}
		}
	}()
	err := srv.Serve(l)
	if errors.Is(err, gearman.ErrServerClosed) {
		// A signal or an admin command called Shutdown or Close: Serve
		// returns as soon as the listener closes, so wait here until the
		// stop is complete (at once after Close; after a graceful stop once
		// the running jobs have ended and their results are sent).
		srv.Shutdown(stopNow)
		err = nil
	}
	srv.Close()
	close(served)
	wg.Wait()
	return err
}

// logInfo logs at level INFO when there is a logger.
func logInfo(logger *slog.Logger, msg string, args ...any) {
	if logger != nil {
		logger.Info(msg, args...)
	}
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
