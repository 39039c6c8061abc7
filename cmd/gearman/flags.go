package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/seed749d6d6d/gearman"
)

// config is the parsed command line.
type config struct {
	funcs      []string // -f, in order
	hosts      []string // -h, in order (the C tool keeps only the last)
	port       string   // -p
	timeout    time.Duration
	hasTimeout bool // -t given (0 is a timeout too)
	pidFile    string
	tls        bool
	verbose    int // -v given this many times: 2 dumps the packets, 3 their data too
	background bool
	priority   gearman.Priority
	perLine    bool // -n or -N
	strip      bool // -N
	prefix     bool // -P
	suppress   bool // -s
	unique     string
	count      int // -c
	worker     bool
	stream     bool     // --stream: a worker sends the result as it is written
	help       bool     // -H
	badOption  bool     // an unknown option or one missing its argument
	args       []string // the data (client) or the command (worker)
}

// optionsWithArg are the options that take an argument, as in the C tool's
// getopt string "bc:f:h:HILnNp:Pst:u:vwi:S".
const optionsWithArg = "cfhptui"

// optionsFlags are the options that take none.
const optionsFlags = "bHILnNPsvwS"

// parse reads the command line as the C tool's getopt does (GNU getopt,
// which permutes: options may follow the data, until "--"). Options may be
// combined ("-wf name") and an option's argument may be attached ("-fname")
// or the next word.
func parse(args []string) *config {
	c := &config{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--stream" {
			c.stream = true
			continue
		}
		if a == "--" {
			c.args = append(c.args, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			c.args = append(c.args, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			o := a[j]
			switch {
			case strings.IndexByte(optionsFlags, o) >= 0:
				c.flag(o)
			case strings.IndexByte(optionsWithArg, o) >= 0:
				v := a[j+1:]
				if v == "" {
					if i+1 >= len(args) {
						c.badOption = true
						return c
					}
					i++
					v = args[i]
				}
				c.option(o, v)
				j = len(a)
			default:
				c.badOption = true
			}
		}
	}
	return c
}

func (c *config) flag(o byte) {
	switch o {
	case 'b':
		c.background = true
	case 'H':
		c.help = true
	case 'I':
		c.priority = gearman.High
	case 'L':
		c.priority = gearman.Low
	case 'n':
		c.perLine = true
	case 'N':
		c.perLine, c.strip = true, true
	case 'P':
		c.prefix = true
	case 's':
		c.suppress = true
	case 'v':
		c.verbose++
	case 'w':
		c.worker = true
	case 'S':
		c.tls = true
	}
}

func (c *config) option(o byte, v string) {
	switch o {
	case 'c':
		c.count = atoi(v)
	case 'f':
		c.funcs = append(c.funcs, v)
	case 'h':
		c.hosts = append(c.hosts, v)
	case 'p':
		c.port = v
	case 't':
		c.timeout, c.hasTimeout = time.Duration(atoi(v))*time.Millisecond, true
	case 'u':
		c.unique = v
	case 'i':
		c.pidFile = v
	}
}

// atoi reads a leading decimal number as C's atoi does: 0 when there is none.
func atoi(s string) int {
	s = strings.TrimLeft(s, " \t\n")
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || end == 0 && (s[0] == '-' || s[0] == '+')) {
		end++
	}
	n, _ := strconv.Atoi(s[:end])
	return n
}

// addrs returns the job servers: every -h (default localhost), each with
// its own port ("host:port") or -p's (default 4730; 0 or a port that is not
// a number means the default, as in the C tool).
func (c *config) addrs() []string {
	port := "4730"
	if p := atoi(c.port); p > 0 && p < 65536 {
		port = strconv.Itoa(p)
	}
	hosts := c.hosts
	if len(hosts) == 0 {
		hosts = []string{"localhost"}
	}
	var addrs []string
	for _, h := range hosts {
		if _, _, err := net.SplitHostPort(h); err == nil {
			addrs = append(addrs, h)
			continue
		}
		addrs = append(addrs, net.JoinHostPort(strings.Trim(h, "[]"), port))
	}
	return addrs
}

// usageError returns the message the C tool puts in "Error in usage(...)",
// or "" when the command line is usable.
func (c *config) usageError() string {
	switch {
	case len(c.funcs) == 0:
		return "No Functions were provided"
	case c.badOption:
		return "-?"
	}
	return ""
}

// printUsage prints the C tool's help, with the current value of the flags
// it shows, after the line "name\tError in usage(why)." ("(null)" for -H).
func printUsage(w io.Writer, name, why string, c *config) {
	if why == "" {
		why = "(null)"
	}
	fmt.Fprintf(w, "\n%s\tError in usage(%s).\n\n", name, why)
	fmt.Fprintf(w, "Client mode: %s [options] [<data>]\n", name)
	fmt.Fprintf(w, "Worker mode: %s -w [options] [<command> [<args> ...]]\n", name)
	fmt.Fprintf(w, `
Common options to both client and worker modes.
	-f <function> - Function name to use for jobs (can give many)
	-h <host>     - Job server host
	-H            - Print this help menu
	-v            - Print diagnostic information to stdout(%t)
	-p <port>     - Job server port
	-t <timeout>  - Timeout in milliseconds
	-i <pidfile>  - Create a pidfile for the process
	-S            - Enable SSL connections

Client options:
	-b            - Run jobs in the background(%t)
	-I            - Run jobs as high priority
	-L            - Run jobs as low priority
	-n            - Run one job per line(%t)
	-N            - Same as -n, but strip off the newline(%t)
	-P            - Prefix all output lines with functions names
	-s            - Send job without reading from standard input
	-u <unique>   - Unique key to use for job

Worker options:
	-c <count>    - Number of jobs for worker to run before exiting
	-n            - Send data packet for each line(%t)
	-N            - Same as -n, but strip off the newline(%t)
	-w            - Run in worker mode(%t)
`, c.verbose > 0, c.background, c.perLine, c.strip, c.perLine, c.strip, c.worker)
}
