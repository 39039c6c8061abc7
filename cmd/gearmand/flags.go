package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options is what the command line and the config file set.
type options struct {
	listen, logFile, verbose, prefix   string
	sslCert, sslKey, sslCA, cpuProf    string
	pidFile, configFile, queueType     string
	storeURL, httpAddr                 string
	metricFuncs                        int
	retryFailed, maxDead               int
	retryBackoff, retryMaxBackoff      time.Duration
	salvage                            bool
	maxFuncName, maxClientID           int
	packetTimeout, handshakeTimeout    time.Duration
	storeLease, storePoll              time.Duration
	port, retries, maxConns, maxQueue  int
	backlog                            int
	keepIdle, keepInterval, keepCount  int
	maxPacket, maxSpool, maxSpoolTotal int64
	useSSL, exceptions, shutdownCmd    bool
	keepalive, version, help, checkArg bool

	// warnings says, one line each, which options were accepted and
	// ignored, and why.
	warnings []string
}

// flagDef is one option: its names (the long one first, then the short
// one, if any), the name of its argument in the usage ("" for a switch),
// its usage, and where its value goes.
type flagDef struct {
	names []string
	arg   string
	usage string
	value func(o *options) flag.Value
}

// ignoredDef is an option of gearmand's that means nothing here: it is
// accepted, and a warning says why it is ignored.
type ignoredDef struct {
	names []string
	arg   string // "" for a switch
	why   string
}

// Values of the flag package's kinds, bound to a field of options.
type (
	stringValue struct{ p *string }
	intValue    struct{ p *int }
	int64Value  struct{ p *int64 }
	boolValue   struct{ p *bool }
	durValue    struct{ p *time.Duration }
)

func (v durValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration (such as 30s or 2m)")
	}
	*v.p = d
	return nil
}

func (v durValue) String() string {
	if v.p == nil {
		return "0s"
	}
	return v.p.String()
}

func (v stringValue) Set(s string) error { *v.p = s; return nil }
func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not an integer")
	}
	*v.p = n
	return nil
}

func (v intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (v int64Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("not an integer")
	}
	*v.p = n
	return nil
}

func (v int64Value) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatInt(*v.p, 10)
}

func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("not true or false")
	}
	*v.p = b
	return nil
}

func (v boolValue) String() string   { return strconv.FormatBool(v.p != nil && *v.p) }
func (v boolValue) IsBoolFlag() bool { return true }

func str(f func(o *options) *string) func(o *options) flag.Value {
	return func(o *options) flag.Value { return stringValue{f(o)} }
}

func num(f func(o *options) *int) func(o *options) flag.Value {
	return func(o *options) flag.Value { return intValue{f(o)} }
}

func switchOf(f func(o *options) *bool) func(o *options) flag.Value {
	return func(o *options) flag.Value { return boolValue{f(o)} }
}

// flagDefs are the options that mean something here, gearmand's names
// first (as in its --help), then this server's own.
var flagDefs = []flagDef{
	{[]string{"backlog", "b"}, "N", "listen backlog (default: the system's largest, net.core.somaxconn; gearmand's is 32)",
		num(func(o *options) *int { return &o.backlog })},
	{[]string{"config-file"}, "FILE", "read options from FILE first, as words on the command line (the command line wins)",
		str(func(o *options) *string { return &o.configFile })},
	{[]string{"exceptions"}, "", "turn the exceptions option on for every connection",
		switchOf(func(o *options) *bool { return &o.exceptions })},
	{[]string{"help", "h"}, "", "print this help and exit",
		switchOf(func(o *options) *bool { return &o.help })},
	{[]string{"job-retries", "j"}, "N", "attempts a job gets when workers disconnect while running it (default 0: no limit)",
		num(func(o *options) *int { return &o.retries })},
	{[]string{"job-handle-prefix"}, "PREFIX", `job handle prefix (default "H:" and the host name)`,
		str(func(o *options) *string { return &o.prefix })},
	{[]string{"keepalive"}, "", "TCP keep-alive with the --keepalive-* settings (-1: the system's) on accepted connections, in place of Go's default (15 s idle, 15 s interval, 9 probes)",
		switchOf(func(o *options) *bool { return &o.keepalive })},
	{[]string{"keepalive-idle"}, "SECONDS", "with --keepalive: idle time before the first probe (TCP_KEEPIDLE; default -1: the system's; 0: 15)",
		num(func(o *options) *int { return &o.keepIdle })},
	{[]string{"keepalive-interval"}, "SECONDS", "with --keepalive: time between probes (TCP_KEEPINTVL; default -1: the system's; 0: 15)",
		num(func(o *options) *int { return &o.keepInterval })},
	{[]string{"keepalive-count"}, "N", "with --keepalive: unanswered probes before the connection is dropped (TCP_KEEPCNT; default -1: the system's; 0: 9)",
		num(func(o *options) *int { return &o.keepCount })},
	{[]string{"log-file", "l"}, "FILE", `log file, "stderr" (the default) or "none"`,
		str(func(o *options) *string { return &o.logFile })},
	{[]string{"listen", "L"}, "ADDR", "address to listen on (default 127.0.0.1; gearmand's is every address)",
		str(func(o *options) *string { return &o.listen })},
	{[]string{"pid-file", "P"}, "FILE", "write the process id to FILE once listening, and remove it at exit (default: none)",
		str(func(o *options) *string { return &o.pidFile })},
	{[]string{"queue-type", "q"}, "TYPE", `persistent queue: only "builtin" (jobs in memory); any other is ignored with a warning`,
		str(func(o *options) *string { return &o.queueType })},
	{[]string{"verbose"}, "LEVEL", "log level: FATAL, ALERT, CRITICAL, ERROR (the default), WARNING, NOTICE, INFO or DEBUG",
		str(func(o *options) *string { return &o.verbose })},
	{[]string{"version", "V"}, "", "print the version and exit",
		switchOf(func(o *options) *bool { return &o.version })},
	{[]string{"port", "p"}, "PORT", "port to listen on (default 4730; 0: one the system chooses)",
		num(func(o *options) *int { return &o.port })},
	{[]string{"ssl"}, "", "serve TLS only (needs --ssl-certificate and --ssl-key)",
		switchOf(func(o *options) *bool { return &o.useSSL })},
	{[]string{"ssl-ca-file"}, "FILE", "CA file: when set, clients must present a certificate it signed (default $GEARMAND_CA_CERTIFICATE)",
		str(func(o *options) *string { return &o.sslCA })},
	{[]string{"ssl-certificate", "ssl-cert", "ssl-server-cert"}, "FILE", "TLS certificate file, PEM (default $GEARMAND_SERVER_PEM)",
		str(func(o *options) *string { return &o.sslCert })},
	{[]string{"ssl-key", "ssl-server-key"}, "FILE", "TLS key file, PEM (default $GEARMAND_SERVER_KEY)",
		str(func(o *options) *string { return &o.sslKey })},
	{[]string{"check-args"}, "", "check the options (and the config file) and exit",
		switchOf(func(o *options) *bool { return &o.checkArg })},
	{[]string{"max-packet-size"}, "BYTES", "largest packet body accepted (default 268500992: 256 MiB and 64 KiB)",
		func(o *options) flag.Value { return int64Value{&o.maxPacket} }},
	{[]string{"max-spool"}, "BYTES", "largest streamed payload held whole for a worker without the streaming extension; a longer one fails (default 0: --max-packet-size less 64 KiB; at least 256 KiB)",
		func(o *options) flag.Value { return int64Value{&o.maxSpool} }},
	{[]string{"max-spool-total"}, "BYTES", "most held so across all such jobs, past each one's first 256 KiB; a payload that needs more fails (default 0: four times --max-spool)",
		func(o *options) flag.Value { return int64Value{&o.maxSpoolTotal} }},
	{[]string{"max-connections"}, "N", "most connections at once (default 0: no limit)",
		num(func(o *options) *int { return &o.maxConns })},
	{[]string{"max-queue"}, "N", "initial maxqueue limit of every function (default 0: no limit)",
		num(func(o *options) *int { return &o.maxQueue })},
	{[]string{"enable-shutdown"}, "", `accept the admin commands "shutdown" and "shutdown graceful"`,
		switchOf(func(o *options) *bool { return &o.shutdownCmd })},
	{[]string{"cpuprofile"}, "FILE", "write a CPU profile to FILE until exit",
		str(func(o *options) *string { return &o.cpuProf })},
	{[]string{"max-function-name"}, "BYTES", "longest function name accepted (default 512, gearmand's limit)",
		num(func(o *options) *int { return &o.maxFuncName })},
	{[]string{"max-client-id"}, "BYTES", "length at which a client id is cut (default 127, as gearmand)",
		num(func(o *options) *int { return &o.maxClientID })},
	{[]string{"packet-timeout"}, "DURATION", "time a started packet or admin line has to complete; idle connections are never cut (default 60s; negative: none)",
		func(o *options) flag.Value { return durValue{&o.packetTimeout} }},
	{[]string{"handshake-timeout"}, "DURATION", "time a TLS handshake has to complete (default 10s; negative: none)",
		func(o *options) flag.Value { return durValue{&o.handshakeTimeout} }},
	{[]string{"store"}, "URL", "keep background jobs across restarts and crashes: file:PATH for the embedded store in directory PATH, postgres://... for a PostgreSQL database that several servers share (default: in memory only)",
		str(func(o *options) *string { return &o.storeURL })},
	{[]string{"store-salvage"}, "", "open a damaged store anyway, skipping its damaged records (their jobs are lost)",
		switchOf(func(o *options) *bool { return &o.salvage })},
	{[]string{"store-lease"}, "DURATION", "with a PostgreSQL store: how long this server's hold on its claimed jobs lasts unless renewed; a dead server's jobs run elsewhere after about this long (default 10s)",
		func(o *options) flag.Value { return durValue{&o.storeLease} }},
	{[]string{"store-poll"}, "DURATION", "with a PostgreSQL store: how often to look for jobs without a notification; bounds the delay of an epoch or scheduled job (default 1s)",
		func(o *options) flag.Value { return durValue{&o.storePoll} }},
	{[]string{"http"}, "ADDR", "serve /metrics (Prometheus), /healthz, /readyz, a status page at / and a JSON API under /api/ on ADDR, such as 127.0.0.1:4731 (default: none; no authentication, keep it private)",
		str(func(o *options) *string { return &o.httpAddr })},
	{[]string{"retry-failed"}, "N", `a background job that its worker fails (WORK_FAIL, WORK_EXCEPTION) runs again up to N times with exponential backoff, then is kept as a dead letter (admin "show dead", "dead retry", "dead purge"; the admin's "retries" sets it per function) (default -1: gone, as in gearmand; 0: kept at its first failure)`,
		num(func(o *options) *int { return &o.retryFailed })},
	{[]string{"retry-backoff"}, "DURATION", "with --retry-failed: the wait before the first retry, doubled for each next one and drawn between half of it and all of it, in whole seconds (default 10s)",
		func(o *options) flag.Value { return durValue{&o.retryBackoff} }},
	{[]string{"retry-max-backoff"}, "DURATION", "with --retry-failed: the longest wait between retries (default 1h)",
		func(o *options) flag.Value { return durValue{&o.retryMaxBackoff} }},
	{[]string{"max-dead-letters"}, "N", "most dead letters kept; past it the oldest is dropped for each new one (default 10000)",
		num(func(o *options) *int { return &o.maxDead })},
	{[]string{"metric-functions"}, "N", `functions the metrics label by name; the rest share "(other functions)" (default 100)`,
		num(func(o *options) *int { return &o.metricFuncs })},
}

// noQueues is why the persistent queue modules' options are ignored.
const noQueues = "gearmand's queue modules are not here; --store keeps background jobs (file:PATH)"

// ignoredDefs are gearmand's options that mean nothing here.
var ignoredDefs = []ignoredDef{
	{[]string{"daemon", "d"}, "", "the server does not detach; run it under a service manager (systemd, supervisord) to put it in the background"},
	{[]string{"file-descriptors", "f"}, "N", "the process runs with the highest descriptor limit it may have (Go raises the soft limit to the hard one); set that with ulimit -n or LimitNOFILE, and cap connections with --max-connections"},
	{[]string{"hashtable-buckets"}, "N", "the job tables grow as they need"},
	{[]string{"protocol", "r"}, "NAME", "only the Gearman protocol is served here (there is no HTTP module)"},
	{[]string{"http-port"}, "PORT", "gearmand's HTTP protocol module (jobs over HTTP) is not here; --http serves metrics and a status page"},
	{[]string{"round-robin", "R"}, "", "a worker is always served in turn across its functions"},
	{[]string{"syslog"}, "", "the log goes to --log-file (default stderr); have the service manager send it to syslog"},
	{[]string{"coredump"}, "", "set GOTRACEBACK=crash in the environment for a core dump on a crash"},
	{[]string{"threads", "t"}, "N", "connections are served by goroutines on GOMAXPROCS threads"},
	{[]string{"user", "u"}, "USER", "the server does not switch users; start it as that user (systemd User=, setpriv, su)"},
	{[]string{"worker-wakeup", "w"}, "N", "a new job wakes one sleeping worker that can run it"},
	{[]string{"libmemcached-servers"}, "LIST", noQueues},
	{[]string{"libmemcached-prefix"}, "PREFIX", noQueues},
	{[]string{"libsqlite3-db"}, "FILE", noQueues},
	{[]string{"libsqlite3-table"}, "TABLE", noQueues},
	{[]string{"store-queue-on-shutdown"}, "", noQueues},
	{[]string{"libpq-conninfo"}, "INFO", noQueues},
	{[]string{"libpq-table"}, "TABLE", noQueues},
	{[]string{"redis-server"}, "HOST", noQueues},
	{[]string{"redis-port"}, "PORT", noQueues},
	{[]string{"redis-password"}, "PASSWORD", noQueues},
	{[]string{"redis-prefix"}, "PREFIX", noQueues},
	{[]string{"mysql-host"}, "HOST", noQueues},
	{[]string{"mysql-port"}, "PORT", noQueues},
	{[]string{"mysql-user"}, "USER", noQueues},
	{[]string{"mysql-password"}, "PASSWORD", noQueues},
	{[]string{"mysql-db"}, "DB", noQueues},
	{[]string{"mysql-table"}, "TABLE", noQueues},
}

// ignoredValue accepts an ignored option's argument (or its switch), and
// adds the option's warning to o the first time.
type ignoredValue struct {
	o *options
	d ignoredDef
}

func (v ignoredValue) Set(s string) error {
	if v.d.arg == "" {
		if _, err := strconv.ParseBool(s); err != nil {
			return errors.New("not true or false")
		}
	}
	w := fmt.Sprintf("%s ignored: %s", spell(v.d.names), v.d.why)
	if !slices.Contains(v.o.warnings, w) {
		v.o.warnings = append(v.o.warnings, w)
	}
	return nil
}

func (v ignoredValue) String() string   { return "" }
func (v ignoredValue) IsBoolFlag() bool { return v.d.arg == "" }

// defaults returns the options before any flag: the defaults.
func defaults() *options {
	return &options{
		listen: "127.0.0.1", port: 4730, verbose: "ERROR", logFile: "stderr",
		queueType: "builtin", maxPacket: 256<<20 + 64<<10,
		keepIdle: -1, keepInterval: -1, keepCount: -1, retryFailed: -1,
		sslCert: os.Getenv("GEARMAND_SERVER_PEM"), sslKey: os.Getenv("GEARMAND_SERVER_KEY"),
		sslCA: os.Getenv("GEARMAND_CA_CERTIFICATE"),
	}
}

// parseArgs parses the command line, after the config file that it names
// (so that the command line wins), and validates what needs no file.
func parseArgs(args []string) (*options, error) {
	o, err := parseWords(args)
	if err != nil || o.configFile == "" {
		return o, err
	}
	words, err := readConfigFile(o.configFile)
	if err != nil {
		return nil, err
	}
	if _, err := parseWords(words); err != nil {
		return nil, fmt.Errorf("config file %s: %w", o.configFile, err)
	}
	return parseWords(append(words, args...))
}

// readConfigFile reads gearmand's config file format: options as on the
// command line, separated by spaces or line ends. A line whose first word
// starts with "#" is a comment (gearmand has none; this is an extension).
func readConfigFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config-file: %w", err)
	}
	var words []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && strings.HasPrefix(f[0], "#") {
			continue
		}
		words = append(words, f...)
	}
	return words, sc.Err()
}

// parseWords parses one list of arguments onto the defaults.
func parseWords(args []string) (*options, error) {
	o := defaults()
	fs := flag.NewFlagSet("gearmand", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	canonical := map[string]string{} // every name to the long one
	for _, d := range flagDefs {
		v := d.value(o)
		for _, n := range d.names {
			fs.Var(v, n, d.usage)
			canonical[n] = d.names[0]
		}
	}
	for _, d := range ignoredDefs {
		for _, n := range d.names {
			fs.Var(ignoredValue{o, d}, n, d.why)
			canonical[n] = d.names[0]
		}
	}
	if err := fs.Parse(stickyShorts(fs, args)); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[canonical[f.Name]] = true })
	if q := o.queueType; q != "builtin" {
		o.warnings = append(o.warnings, fmt.Sprintf("%s %s ignored: gearmand's queue modules are not here; --store file:PATH keeps background jobs", spell([]string{"queue-type", "q"}), q))
	}
	if !o.keepalive {
		for _, n := range []string{"keepalive-idle", "keepalive-interval", "keepalive-count"} {
			if given[n] {
				o.warnings = append(o.warnings, fmt.Sprintf("--%s ignored: it applies only with --keepalive (as in gearmand)", n))
			}
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"max-spool", o.maxSpool}, {"max-spool-total", o.maxSpoolTotal}} {
		if f.v < 0 {
			return nil, fmt.Errorf("--%s %d: must not be negative (0: the default)", f.name, f.v)
		}
	}
	if given["backlog"] && o.backlog < 1 {
		return nil, fmt.Errorf("--backlog %d: must be at least 1", o.backlog)
	}
	if _, ok := levels[strings.ToUpper(o.verbose)]; !ok {
		return nil, fmt.Errorf("unknown --verbose level %q", o.verbose)
	}
	return o, nil
}

// spell writes an option's names as "-d/--daemon" (short, then long).
func spell(names []string) string {
	if len(names) > 1 && len(names[1]) == 1 {
		return "-" + names[1] + "/--" + names[0]
	}
	return "--" + names[0]
}

// stickyShorts rewrites gearmand's short forms that the flag package does
// not take: an argument stuck to its option ("-p4730" for "-p 4730") and
// switches run together ("-dR" for "-d -R", "-Rp4730").
func stickyShorts(fs *flag.FlagSet, args []string) []string {
	takesArg := func(name string) (known, arg bool) {
		f := fs.Lookup(name)
		if f == nil {
			return false, false
		}
		b, ok := f.Value.(interface{ IsBoolFlag() bool })
		return true, !(ok && b.IsBoolFlag())
	}
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			out = append(out, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if known, arg := takesArg(name); known || strings.HasPrefix(a, "--") {
			out = append(out, a)
			if arg && !hasValue && i+1 < len(args) {
				i++
				out = append(out, args[i]) // its argument, whatever it looks like
			}
			continue
		}
		// "-XYZ" where X is not a whole option name: short options run together.
		rest, split := a[1:], []string{}
		for rest != "" {
			known, arg := takesArg(rest[:1])
			if !known {
				split = nil
				break
			}
			split = append(split, "-"+rest[:1])
			rest = rest[1:]
			if arg {
				if rest != "" {
					split = append(split, rest)
				} else if i+1 < len(args) {
					i++
					split = append(split, args[i])
				}
				break
			}
		}
		if split == nil {
			out = append(out, a) // the flag package reports it
			continue
		}
		out = append(out, split...)
	}
	return out
}

// usage writes the help: the options that mean something, then those that
// are accepted and ignored.
func usage(w io.Writer) {
	fmt.Fprint(w, "Usage: gearmand [options]\n\nEach option may be given with one dash or two; a value follows it or an \"=\".\n\n")
	line := func(names []string, arg, text string) {
		var spelled []string
		for _, n := range names {
			if len(n) == 1 {
				spelled = append([]string{"-" + n}, spelled...)
			} else {
				spelled = append(spelled, "--"+n)
			}
		}
		left := strings.Join(spelled, ", ")
		if arg != "" {
			left += " " + arg
		}
		fmt.Fprintf(w, "  %s\n        %s\n", left, text)
	}
	for _, d := range flagDefs {
		line(d.names, d.arg, d.usage)
	}
	fmt.Fprint(w, "\nAccepted for gearmand's sake, and ignored (with a warning):\n\n")
	for _, d := range ignoredDefs {
		line(d.names, d.arg, d.why)
	}
}
