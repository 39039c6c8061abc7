package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seed749d6d6d/gearman"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gearmand:", err)
		os.Exit(1)
	}
}

// version is what -V prints and the admin command "version" answers.
const version = "1.1.20-gogearman"

// levels maps gearmand's --verbose names to slog levels.
var levels = map[string]slog.Level{
	"FATAL": slog.LevelError + 4, "ALERT": slog.LevelError + 4, "CRITICAL": slog.LevelError + 4,
	"ERROR": slog.LevelError, "WARNING": slog.LevelWarn, "NOTICE": slog.LevelInfo,
	"INFO": slog.LevelInfo, "DEBUG": slog.LevelDebug,
}

// run runs the command with args: the help and the version go to stdout;
// the warnings for ignored options, and the log unless --log-file says
// otherwise, to stderr. It returns once the server has stopped.
func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseArgs(args)
	if err != nil {
		return err
	}
	switch {
	case o.help:
		usage(stdout)
		return nil
	case o.version:
		fmt.Fprintf(stdout, "gearmand %s (%s)\n", version, moduleVersion())
		return nil
	}
	for _, w := range o.warnings {
		fmt.Fprintln(stderr, "gearmand: warning:", w)
	}

	srv := &gearman.Server{
		Addr:                  net.JoinHostPort(o.listen, strconv.Itoa(o.port)),
		MaxPacketSize:         o.maxPacket,
		MaxSpool:              o.maxSpool,
		MaxSpoolTotal:         o.maxSpoolTotal,
		MaxConnections:        o.maxConns,
		MaxQueue:              o.maxQueue,
		JobRetries:            o.retries,
		HandlePrefix:          o.prefix,
		Exceptions:            o.exceptions,
		EnableShutdownCommand: o.shutdownCmd,
		Version:               version,
		MaxFunctionName:       o.maxFuncName,
		MaxClientID:           o.maxClientID,
		PacketTimeout:         o.packetTimeout,
		HandshakeTimeout:      o.handshakeTimeout,
		MetricFunctions:       o.metricFuncs,
		MaxDeadLetters:        o.maxDead,
	}
	if o.retryFailed >= 0 {
		srv.RetryFailed = gearman.RetryPolicy{Retries: o.retryFailed, Backoff: o.retryBackoff, MaxBackoff: o.retryMaxBackoff, Keep: true}
	}
	if o.useSSL {
		cfg, err := tlsConfig(o.sslCert, o.sslKey, o.sslCA)
		if err != nil {
			return err
		}
		srv.TLSConfig = cfg
	}
	if o.checkArg {
		return nil
	}

	// logger is the server's, at the --verbose level; banner writes the one
	// line at start that says what is served, whatever the level.
	var banner *slog.Logger
	var logf *logFile
	if o.logFile != "none" {
		var w io.Writer = stderr
		if o.logFile != "stderr" && o.logFile != "" {
			var err error
			if logf, err = openLogFile(o.logFile); err != nil {
				return err
			}
			defer logf.Close()
			w = logf
		}
		level := levels[strings.ToUpper(o.verbose)]
		srv.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
		banner = slog.New(slog.NewTextHandler(w, nil))
	}

	if o.cpuProf != "" {
		f, err := os.Create(o.cpuProf)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	where := "in memory"
	if o.storeURL != "" {
		st, err := gearman.OpenStore(context.Background(), o.storeURL, &gearman.StoreOptions{
			Salvage: o.salvage, Logger: srv.Logger, Lease: o.storeLease, Poll: o.storePoll,
		})
		if err != nil {
			return err
		}
		srv.Store = st
		where = st.String()
		defer srv.Close() // closes the store, also when the server never served
	}

	l, err := listen(o, srv.Addr, stderr)
	if err != nil {
		return err
	}
	if o.pidFile != "" {
		if err := writePidFile(o.pidFile); err != nil {
			l.Close()
			return err
		}
		defer removePidFile(o.pidFile, stderr)
	}
	attrs := startAttrs([]net.Addr{l.Addr()}, o.useSSL, where)
	if o.httpAddr != "" {
		hl, err := startHTTP(srv, o.httpAddr)
		if err != nil {
			l.Close()
			return err
		}
		defer hl.stop()
		attrs = append(attrs, "http", hl.addr.String())
	}
	if banner != nil {
		banner.Info("serving", attrs...)
	}
	return serve(srv, l, logf)
}

// listen opens the listener with the backlog and keep-alive options.
func listen(o *options, addr string, stderr io.Writer) (net.Listener, error) {
	var lc net.ListenConfig
	if o.keepalive {
		lc.KeepAliveConfig = net.KeepAliveConfig{
			Enable:   true,
			Idle:     time.Duration(o.keepIdle) * time.Second,
			Interval: time.Duration(o.keepInterval) * time.Second,
			Count:    o.keepCount,
		}
	}
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	if o.backlog > 0 {
		if err := setBacklog(l, o.backlog); errors.Is(err, errors.ErrUnsupported) {
			fmt.Fprintln(stderr, "gearmand: warning: -b/--backlog ignored:", err)
		} else if err != nil {
			l.Close()
			return nil, fmt.Errorf("--backlog %d: %w", o.backlog, err)
		}
	}
	return l, nil
}

// writePidFile writes the process id and a newline to path, as gearmand.
func writePidFile(path string) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	return nil
}

// removePidFile removes the pid file if it still holds this process's id.
func removePidFile(path string, stderr io.Writer) {
	b, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		return
	}
	if err := os.Remove(path); err != nil {
		fmt.Fprintln(stderr, "gearmand: warning:", err)
	}
}

// moduleVersion is the version of the module the binary was built from.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "github.com/seed749d6d6d/gearman"
	}
	return bi.Main.Path + " " + bi.Main.Version
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

// serve runs srv on l until a signal or an admin command stops it; SIGHUP
// reopens logf, when the log goes to a file. After a
// graceful stop (SIGUSR1 or "shutdown graceful") it returns only once the
// running jobs have ended and their results have been sent; a second signal
// meanwhile stops the server at once. A stop that was asked for returns nil.
func serve(srv *gearman.Server, l net.Listener, logf *logFile) error {
	logger := srv.Logger
	stopNow, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, append(append(stopSignals, gracefulSignals...), hangupSignals...)...)
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
				if isHangup(sig) {
					// As gearmand: reopen the log file (which logrotate
					// may have moved); with stderr, nothing to do.
					switch err := logf.Reopen(); {
					case logf == nil:
						logInfo(logger, "nothing to reopen: the log goes to stderr", "signal", sig.String())
					case err != nil:
						logError(logger, "cannot reopen the log file", "err", err)
					default:
						logInfo(logger, "log file reopened", "signal", sig.String())
					}
					continue
				}
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

// logError logs at level ERROR when there is a logger.
func logError(logger *slog.Logger, msg string, args ...any) {
	if logger != nil {
		logger.Error(msg, args...)
	}
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
		return nil, errors.New("--ssl needs --ssl-certificate and --ssl-key")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("--ssl-certificate and --ssl-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("--ssl-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ssl-ca-file: no certificate in %s", ca)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
