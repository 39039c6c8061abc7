package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// runCmd runs the command with args to its end and returns its output.
func runCmd(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, build(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run %q: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// result is what one run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// TestFlags: gearmand's options, in its spellings, are accepted (those
// that mean nothing here with one warning line each); mistakes exit 1.
func TestFlags(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "gearmand.conf")
	if err := os.WriteFile(conf, []byte("--job-retries 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	warn := func(s string) string { return "gearmand: warning: " + s + "\n" }
	tests := []struct {
		args   []string
		code   int
		stderr string // exactly, or (with code 1) a part of it
	}{
		{args: nil},
		{args: []string{"-b", "64"}},
		{args: []string{"--backlog=64"}},
		{args: []string{"-b64"}},
		{args: []string{"-P", "/tmp/x.pid"}},
		{args: []string{"--pid-file", "/tmp/x.pid"}},
		{args: []string{"--keepalive", "--keepalive-idle", "5", "--keepalive-interval=3", "--keepalive-count", "2"}},
		{args: []string{"--config-file", conf}},
		{args: []string{"--config-file=" + conf}},
		{args: []string{"-q", "builtin"}},
		{args: []string{"--queue-type=builtin"}},
		{args: []string{"-p4730", "-j3", "-Lfoo", "-lstderr"}},
		{args: []string{"-port", "4730", "-listen", "x"}},
		{args: []string{"--exceptions", "--job-handle-prefix", "P", "--verbose", "debug"}},
		{args: []string{"--ssl-certificate", "c.pem", "--ssl-key", "k.pem", "--ssl-ca-file", "ca.pem"}},
		{args: []string{"--ssl-cert", "c.pem", "--ssl-server-cert", "c.pem", "--ssl-server-key", "k.pem"}},
		{args: []string{"--max-packet-size", "1024", "--max-connections", "3", "--max-queue", "4", "--enable-shutdown"}},

		{args: []string{"-d"}, stderr: warn("-d/--daemon ignored: the server does not detach; run it under a service manager (systemd, supervisord) to put it in the background")},
		{args: []string{"--daemon"}, stderr: warn("-d/--daemon ignored: the server does not detach; run it under a service manager (systemd, supervisord) to put it in the background")},
		{args: []string{"-u", "gearman"}, stderr: warn("-u/--user ignored: the server does not switch users; start it as that user (systemd User=, setpriv, su)")},
		{args: []string{"--user=gearman"}, stderr: warn("-u/--user ignored: the server does not switch users; start it as that user (systemd User=, setpriv, su)")},
		{args: []string{"-f", "1000"}, stderr: warn("-f/--file-descriptors ignored: the process runs with the highest descriptor limit it may have (Go raises the soft limit to the hard one); set that with ulimit -n or LimitNOFILE, and cap connections with --max-connections")},
		{args: []string{"-R"}, stderr: warn("-R/--round-robin ignored: a worker is always served in turn across its functions")},
		{args: []string{"--round-robin"}, stderr: warn("-R/--round-robin ignored: a worker is always served in turn across its functions")},
		{args: []string{"-w", "1"}, stderr: warn("-w/--worker-wakeup ignored: a new job wakes one sleeping worker that can run it")},
		{args: []string{"-t", "4"}, stderr: warn("-t/--threads ignored: connections are served by goroutines on GOMAXPROCS threads")},
		{args: []string{"--threads=0"}, stderr: warn("-t/--threads ignored: connections are served by goroutines on GOMAXPROCS threads")},
		{args: []string{"--syslog"}, stderr: warn("--syslog ignored: the log goes to --log-file (default stderr); have the service manager send it to syslog")},
		{args: []string{"--coredump"}, stderr: warn("--coredump ignored: set GOTRACEBACK=crash in the environment for a core dump on a crash")},
		{args: []string{"--hashtable-buckets", "991"}, stderr: warn("--hashtable-buckets ignored: the job tables grow as they need")},
		{args: []string{"-r", "http", "--http-port", "8080"}, stderr: warn("-r/--protocol ignored: only the Gearman protocol is served here (there is no HTTP module)") + warn("--http-port ignored: gearmand's HTTP protocol module (jobs over HTTP) is not here; --http serves metrics and a status page")},
		{args: []string{"-q", "mysql"}, stderr: warn("-q/--queue-type mysql ignored: gearmand's queue modules are not here; --store file:PATH keeps background jobs")},
		{args: []string{"--mysql-password", "secret"}, stderr: warn("--mysql-password ignored: " + noQueues)},
		{args: []string{"--store-queue-on-shutdown"}, stderr: warn("--store-queue-on-shutdown ignored: " + noQueues)},
		{args: []string{"--keepalive-idle", "5"}, stderr: warn("--keepalive-idle ignored: it applies only with --keepalive (as in gearmand)")},
		{args: []string{"-dR"}, stderr: warn("-d/--daemon ignored: the server does not detach; run it under a service manager (systemd, supervisord) to put it in the background") + warn("-R/--round-robin ignored: a worker is always served in turn across its functions")},
		{args: []string{"-d", "-d"}, stderr: warn("-d/--daemon ignored: the server does not detach; run it under a service manager (systemd, supervisord) to put it in the background")},

		{args: []string{"-x"}, code: 1, stderr: "flag provided but not defined: -x"},
		{args: []string{"-v"}, code: 1, stderr: "flag provided but not defined: -v"},
		{args: []string{"--backlog", "0"}, code: 1, stderr: "--backlog 0: must be at least 1"},
		{args: []string{"-p", "http"}, code: 1, stderr: "not an integer"},
		{args: []string{"--round-robin=maybe"}, code: 1, stderr: "not true or false"},
		{args: []string{"--verbose", "LOUD"}, code: 1, stderr: `unknown --verbose level "LOUD"`},
		{args: []string{"stray"}, code: 1, stderr: "unexpected arguments: stray"},
		{args: []string{"--config-file", "/nonexistent/gearmand.conf"}, code: 1, stderr: "--config-file: open /nonexistent/gearmand.conf"},
		{args: []string{"--ssl"}, code: 1, stderr: "--ssl needs --ssl-certificate and --ssl-key"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCmd(t, append([]string{"--check-args"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr: %s", r.code, tt.code, r.stderr)
			}
			if tt.code == 0 && r.stderr != tt.stderr {
				t.Errorf("stderr:\n%s", cmp.Diff(tt.stderr, r.stderr))
			}
			if tt.code != 0 && !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr %q does not say %q", r.stderr, tt.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}
}

// TestParseArgs: the values the spellings set.
func TestParseArgs(t *testing.T) {
	tests := []struct {
		args []string
		want func(o *options)
	}{
		{[]string{"-p4731", "-j3", "-b", "9"}, func(o *options) { o.port, o.retries, o.backlog = 4731, 3, 9 }},
		{[]string{"--port=4731", "--job-retries", "3", "--backlog=9"}, func(o *options) { o.port, o.retries, o.backlog = 4731, 3, 9 }},
		{[]string{"-Rp4731"}, func(o *options) { o.port = 4731 }},
		{[]string{"-dRP", "/run/g.pid"}, func(o *options) { o.pidFile = "/run/g.pid" }},
		{[]string{"-P/run/g.pid", "-L", "0.0.0.0"}, func(o *options) { o.pidFile, o.listen = "/run/g.pid", "0.0.0.0" }},
		{[]string{"--job-handle-prefix", "-dR"}, func(o *options) { o.prefix = "-dR" }}, // an argument is never taken apart
		{[]string{"--keepalive", "--keepalive-idle", "5", "--keepalive-count=0"}, func(o *options) { o.keepalive, o.keepIdle, o.keepCount = true, 5, 0 }},
		{[]string{"--ssl-certificate", "c", "--ssl-key", "k", "--ssl"}, func(o *options) { o.sslCert, o.sslKey, o.useSSL = "c", "k", true }},
		{[]string{"-V"}, func(o *options) { o.version = true }},
		{[]string{"--store", "file:q", "--store-salvage"}, func(o *options) { o.storeURL, o.salvage = "file:q", true }},
		{[]string{"--packet-timeout=2m", "--handshake-timeout", "-1s", "--max-function-name", "64", "--max-client-id=10"}, func(o *options) {
			o.packetTimeout, o.handshakeTimeout, o.maxFuncName, o.maxClientID = 2*time.Minute, -time.Second, 64, 10
		}},
		{[]string{"--packet-timeout", "60"}, nil}, // a duration needs its unit
		{[]string{"--", "x"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := parseArgs(tt.args)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("parseArgs(%q) = nil error", tt.args)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := defaults()
			tt.want(want)
			got.warnings, want.warnings = nil, nil
			if diff := cmp.Diff(*want, *got, cmp.AllowUnexported(options{})); diff != "" {
				t.Errorf("parseArgs(%q): (-want +got)\n%s", tt.args, diff)
			}
		})
	}
}

// TestSameOptionsAsGearmand: every option in the C gearmand's --help, in
// both its spellings, is accepted.
func TestSameOptionsAsGearmand(t *testing.T) {
	if _, err := os.Stat(peertest.GearmandPath); err != nil {
		peertest.Missing(t, peertest.GearmandPath+" is not installed")
	}
	help, _ := exec.Command(peertest.GearmandPath, "--help").CombinedOutput()
	opt := regexp.MustCompile(`^  (?:-(\w) \[ --([\w-]+) \]|--([\w-]+))( arg)?`)
	conf := filepath.Join(t.TempDir(), "empty.conf")
	os.WriteFile(conf, nil, 0o644)
	values := map[string]string{"verbose": "INFO", "config-file": conf, "queue-type": "builtin", "listen": "127.0.0.1", "log-file": "stderr"}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(help))
	for sc.Scan() {
		m := opt.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		long := m[2] + m[3]
		if long == "ssl" || long == "help" || long == "version" {
			continue // they do not return to --check-args; TestHelpAndVersion runs them
		}
		spellings := []string{"--" + long}
		if m[1] != "" {
			spellings = append(spellings, "-"+m[1])
		}
		for _, s := range spellings {
			args := []string{"--check-args", s}
			if m[4] != "" {
				v, ok := values[long]
				if !ok {
					v = "1"
				}
				args = append(args, v)
			}
			n++
			if r := runCmd(t, args...); r.code != 0 {
				t.Errorf("%q: exit code %d: %s", args, r.code, r.stderr)
			}
		}
	}
	if n < 40 {
		t.Fatalf("found only %d options in gearmand --help:\n%s", n, help)
	}
}

// TestHelpAndVersion: -h and -V print to standard output and exit 0, as in
// gearmand, and the help names every option.
func TestHelpAndVersion(t *testing.T) {
	for _, arg := range []string{"-V", "--version"} {
		r := runCmd(t, arg)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "gearmand 1.1.20-gogearman (github.com/seed749d6d6d/gearman ") {
			t.Errorf("%s: %+v", arg, r)
		}
	}
	for _, arg := range []string{"-h", "--help"} {
		r := runCmd(t, arg)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "Usage: gearmand [options]\n") {
			t.Errorf("%s: %+v", arg, r)
		}
		for _, name := range optionNames() {
			if !strings.Contains(r.stdout, name) {
				t.Errorf("%s does not name %s", arg, name)
			}
		}
	}
}

// TestDocNamesEveryOption: the command's doc comment names every option.
func TestDocNamesEveryOption(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range optionNames() {
		if !regexp.MustCompile(regexp.QuoteMeta(name) + `\b`).Match(doc) {
			t.Errorf("doc.go does not name %s", name)
		}
	}
}

// optionNames returns every option's names, spelled with their dashes.
func optionNames() []string {
	var out []string
	add := func(names []string) {
		for _, n := range names {
			if len(n) == 1 {
				out = append(out, "-"+n)
			} else {
				out = append(out, "--"+n)
			}
		}
	}
	for _, d := range flagDefs {
		add(d.names)
	}
	for _, d := range ignoredDefs {
		add(d.names)
	}
	return out
}

// TestConfigFile: options come from --config-file, and the command line
// wins over it.
func TestConfigFile(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "gearmand.conf")
	text := "# gearmand options\n--job-handle-prefix fromfile --verbose INFO\n-j\t2\n-d\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c := start(t, "--config-file", conf, "--verbose", "WARNING")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := gearman.DialAdmin(ctx, c.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if v, err := a.Verbose(ctx); err != nil || v != "WARNING" {
		t.Errorf("verbose = %q, %v; want WARNING (the command line's)", v, err)
	}
	cl, err := gearman.Dial(ctx, c.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	task, err := cl.Submit(ctx, gearman.Job{Func: "f", Background: true})
	if err != nil {
		t.Fatal(err)
	}
	if h := task.Handle(); !strings.HasPrefix(h, "fromfile:") {
		t.Errorf("job handle %q does not start with the config file's prefix", h)
	}
	if !strings.Contains(c.stderr.String(), "gearmand: warning: -d/--daemon ignored") {
		t.Errorf("no warning for the config file's -d: %s", c.stderr)
	}
}

// TestPidFile: -P writes the process id once the server listens and
// removes the file at exit.
func TestPidFile(t *testing.T) {
	pid := filepath.Join(t.TempDir(), "gearmand.pid")
	c := start(t, "-P", pid)
	b, err := os.ReadFile(pid)
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(c.cmd.Process.Pid) + "\n"; string(b) != want {
		t.Errorf("pid file holds %q, want %q", b, want)
	}
	c.cmd.Process.Signal(os.Interrupt)
	if code := c.wait(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Errorf("pid file still there after exit: %v", err)
	}

	r := runCmd(t, "-p", "0", "-P", filepath.Join(t.TempDir(), "no", "such", "dir"))
	if r.code != 1 || !strings.Contains(r.stderr, "--pid-file: open") {
		t.Errorf("pid file in a missing directory: %+v", r)
	}
}

// TestTLSCertificate: gearmand's --ssl-certificate spelling serves TLS.
func TestTLSCertificate(t *testing.T) {
	certFile, keyFile := selfSigned(t)
	c := startArgs(t, build(t), "-L", "127.0.0.1", "-p", "0", "--ssl", "--ssl-certificate", certFile, "--ssl-key", keyFile)
	addr := c.servedAddr(t)
	if !strings.Contains(c.stderr.String(), " tls=true ") {
		t.Errorf("start line does not say tls=true: %s", c.stderr)
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write([]byte("version\r\n"))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "OK 1.1.20-gogearman\n" {
		t.Errorf("version over TLS = %q, %v", line, err)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}
