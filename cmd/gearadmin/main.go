// Command gearadmin sends admin commands to a Gearman job server and prints
// the answers, as the gearadmin of gearman-tools (gearmand 1.1.20) does: the
// same options, the same output on standard output and standard error, and
// the same exit codes.
//
//	gearadmin [-h host] [-p port] [-S] --status --workers ...
//
// The operations run in gearadmin's fixed order, not in the order given:
// --getpid, --create-function, --drop-function, --show-jobs,
// --show-unique-jobs, --cancel-job, --server-verbose, --server-version,
// --workers, --priority-status, --status, --shutdown.
//
// It differs from gearmand 1.1.20's gearadmin in three ways: it has
// --shutdown (older gearadmins had it; gearmand 1.1.15 and later answer it
// with ERR UNKNOWN_COMMAND), -S makes the connection TLS (the Debian build of
// gearadmin accepts -S and ignores it), and it refuses to send an argument
// the text protocol cannot carry (empty, or holding a space or a line end)
// with an error of its own instead of sending a malformed command.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"

	"github.com/seed749d6d6d/gearman"
)

// usage is gearadmin's option description, which it prints for --help and
// after a usage error.
const usage = `Options:
  --help                         Options related to the program.
  -h [ --host ] arg (=localhost) Connect to the host
  -p [ --port ] arg (=4730)      Port number or service to use for connection
  --server-version               Fetch the version number for the server.
  --server-verbose               Fetch the verbose setting for the server.
  --create-function arg          Create the function from the server.
  --cancel-job arg               Remove a given job from the server's queue
  --drop-function arg            Drop the function from the server.
  --show-unique-jobs             Show unique IDs of jobs on the server.
  --show-jobs                    Show all jobs on the server.
  --getpid                       Get Process ID for the server.
  --status                       Status for the server.
  --priority-status              Queued jobs status by priority.
  --workers                      Workers for the server.
  --shutdown                     Shutdown server.
  -S [ --ssl ]                   Enable SSL connections.
`

// option is one option gearadmin accepts.
type option struct {
	long  string
	short byte // 0 when none
	arg   bool
}

var options = []option{
	{long: "help"},
	{long: "host", short: 'h', arg: true},
	{long: "port", short: 'p', arg: true},
	{long: "server-version"},
	{long: "server-verbose"},
	{long: "create-function", arg: true},
	{long: "cancel-job", arg: true},
	{long: "drop-function", arg: true},
	{long: "show-unique-jobs"},
	{long: "show-jobs"},
	{long: "getpid"},
	{long: "status"},
	{long: "priority-status"},
	{long: "workers"},
	{long: "shutdown"},
	{long: "ssl", short: 'S'},
}

// operation is an option that sends a command, in the order gearadmin runs
// them.
type operation struct {
	option string
	list   bool     // the answer is a list ended by "."
	words  []string // the command; the option's value is appended
}

var operations = []operation{
	{option: "getpid", words: []string{"getpid"}},
	{option: "create-function", words: []string{"create", "function"}},
	{option: "drop-function", words: []string{"drop", "function"}},
	{option: "show-jobs", list: true, words: []string{"show", "jobs"}},
	{option: "show-unique-jobs", list: true, words: []string{"show", "unique", "jobs"}},
	{option: "cancel-job", words: []string{"cancel", "job"}},
	{option: "server-verbose", words: []string{"verbose"}},
	{option: "server-version", words: []string{"version"}},
	{option: "workers", list: true, words: []string{"workers"}},
	{option: "priority-status", list: true, words: []string{"prioritystatus"}},
	{option: "status", list: true, words: []string{"status"}},
	{option: "shutdown", words: []string{"shutdown"}},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is gearadmin with its arguments (args[0] is the program's name) and
// returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	vals, err := parse(args[1:])
	if err != nil {
		fmt.Fprintf(stdout, "%s : %v\n\n%s\n", args[0], err, usage)
		return 1
	}
	if _, ok := vals["help"]; ok {
		fmt.Fprintf(stdout, "%s\n", usage)
		return 0
	}
	if !slices.ContainsFunc(operations, func(op operation) bool { _, ok := vals[op.option]; return ok }) {
		fmt.Fprintf(stdout, "No option execution operation given.\n\n%s\n", usage)
		return 1
	}
	host, port := "localhost", "4730"
	if v, ok := vals["host"]; ok {
		host = v
	}
	if v, ok := vals["port"]; ok {
		port = v
	}
	var opts gearman.AdminOptions
	if _, ok := vals["ssl"]; ok {
		opts.TLSConfig = &tls.Config{ServerName: host}
	}
	a, err := gearman.DialAdmin(ctx, net.JoinHostPort(host, port), &opts)
	if err != nil {
		fmt.Fprint(stderr, dialError(host, port, err))
		return 1
	}
	defer a.Close()

	code := 0
	for _, op := range operations {
		v, ok := vals[op.option]
		if !ok {
			continue
		}
		words := op.words
		if options[optionIndex(op.option)].arg {
			words = append(slices.Clip(words), v)
		}
		var out string
		if op.list {
			var lines []string
			lines, err = a.List(ctx, words...)
			for _, l := range lines {
				out += l + "\n"
			}
			out += ".\n"
		} else if op.option == "shutdown" {
			err = a.Shutdown(ctx, false)
			out = "OK\n"
		} else {
			out, err = a.Command(ctx, words...)
			if out == "" {
				out = "OK"
			}
			out += "\n"
		}
		var ae *gearman.AdminError
		switch {
		case err == nil:
			io.WriteString(stdout, out)
		case errors.As(err, &ae):
			// gearadmin prints the answer after "ERR " with its CRLF.
			fmt.Fprintf(stderr, "Error: %s\r\n", strings.TrimPrefix(strings.TrimPrefix(ae.Line, "ERR"), " "))
		case errors.Is(err, gearman.ErrAdminArgument):
			fmt.Fprintf(stderr, "Error: %v\n", err)
			code = 1
		default:
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return 1
		}
	}
	return code
}

// dialError is what gearadmin prints when it cannot connect.
func dialError(host, port string, err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		why := dns.Err
		if strings.HasPrefix(dns.Err, "unknown port") {
			why = "Servname not supported for ai_socktype"
		} else if dns.IsNotFound {
			why = "Name or service not known"
		}
		return fmt.Sprintf("Error: Failed to connect on %s:%s with %s\n", host, port, why)
	}
	return fmt.Sprintf("Error: Error connecting to %s.\n\n", host)
}

// parse reads the options as gearadmin's boost::program_options parser
// does: long options take their value after "=" or as the next argument,
// and may be shortened to any unambiguous prefix; short options take their
// value attached or as the next argument when that does not start with '-',
// and may be combined ("-Sh host"); other arguments, and all after "--", are
// ignored. It returns each option given and its value ("" for a flag).
func parse(args []string) (map[string]string, error) {
	vals := make(map[string]string)
	set := func(o option, v string) error {
		if _, dup := vals[o.long]; dup {
			return fmt.Errorf("option '--%s' cannot be specified more than once", o.long)
		}
		vals[o.long] = v
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return vals, nil
		case strings.HasPrefix(a, "--"):
			name, value, hasValue := strings.Cut(a[2:], "=")
			o, err := lookupLong(name, a)
			if err != nil {
				return nil, err
			}
			switch {
			case !o.arg && hasValue:
				return nil, fmt.Errorf("option '--%s' does not take any arguments", o.long)
			case o.arg && hasValue && value == "":
				return nil, fmt.Errorf("the argument for option '--%s' should follow immediately after the equal sign", o.long)
			case o.arg && !hasValue:
				if i+1 >= len(args) {
					return nil, fmt.Errorf("the required argument for option '--%s' is missing", o.long)
				}
				i++
				value = args[i]
			}
			if err := set(o, value); err != nil {
				return nil, err
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				k := slices.IndexFunc(options, func(o option) bool { return o.short != 0 && o.short == a[j] })
				if k < 0 {
					return nil, fmt.Errorf("unrecognised option '%s'", a)
				}
				o := options[k]
				if !o.arg {
					if err := set(o, ""); err != nil {
						return nil, err
					}
					continue
				}
				value := a[j+1:]
				if value == "" {
					if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") {
						return nil, fmt.Errorf("the required argument for option '--%s' is missing", o.long)
					}
					i++
					value = args[i]
				}
				if err := set(o, value); err != nil {
					return nil, err
				}
				break
			}
		}
	}
	return vals, nil
}

// lookupLong finds the long option name or the one it abbreviates.
func lookupLong(name, arg string) (option, error) {
	if k := optionIndex(name); k >= 0 {
		return options[k], nil
	}
	var matches []string
	for _, o := range options {
		if name != "" && strings.HasPrefix(o.long, name) {
			matches = append(matches, "'--"+o.long+"'")
		}
	}
	switch len(matches) {
	case 0:
		return option{}, fmt.Errorf("unrecognised option '%s'", arg)
	case 1:
		return options[optionIndex(matches[0][3:len(matches[0])-1])], nil
	}
	slices.Sort(matches)
	list := strings.Join(matches[:len(matches)-1], ", ") + ", and " + matches[len(matches)-1]
	return option{}, fmt.Errorf("option '--%s' is ambiguous and matches %s", name, list)
}

func optionIndex(long string) int {
	return slices.IndexFunc(options, func(o option) bool { return o.long == long })
}
