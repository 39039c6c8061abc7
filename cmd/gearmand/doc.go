// Command gearmand runs the Gearman job server of package gearman.
//
//	go run ./cmd/gearmand --store file:gearman.queue  # serve on 127.0.0.1:4730, jobs kept on disk
//	go run ./cmd/gearmand                             # the same, jobs in memory only
//	gearmand -L 0.0.0.0 -p 4730 --job-retries 3 --verbose INFO
//
// Options follow gearmand 1.1's (its --help), in its spellings: -p 4730,
// -p4730, --port 4730 and --port=4730; switches run together (-dR); and,
// beyond gearmand, one dash for a long name (-port 4730). Those that mean
// something here:
//
//	-L, --listen ADDR         address to listen on (default 127.0.0.1; gearmand: every address)
//	-p, --port PORT           port (default 4730; 0: one the system chooses, see Logging)
//	-b, --backlog N           listen backlog (default: the system's largest, net.core.somaxconn,
//	                          where gearmand uses 32; the system caps N at that; see Limits)
//	-j, --job-retries N       attempts a job gets when its workers disconnect (default 0: no limit)
//	    --job-handle-prefix P job handle prefix (default "H:" and the host name)
//	    --exceptions          the exceptions option on for every connection
//	    --keepalive           TCP keep-alive on accepted connections with the three settings below
//	    --keepalive-idle S    seconds idle before the first probe (TCP_KEEPIDLE)
//	    --keepalive-interval S  seconds between probes (TCP_KEEPINTVL)
//	    --keepalive-count N   unanswered probes before the connection is dropped (TCP_KEEPCNT)
//	-l, --log-file FILE       log file, "stderr" (the default; gearmand: /var/log/gearmand.log) or "none"
//	    --verbose LEVEL       FATAL, ALERT, CRITICAL, ERROR (the default), WARNING, NOTICE, INFO, DEBUG
//	-P, --pid-file FILE       write the process id (and a newline) to FILE once the port is bound,
//	                          remove it at exit if it still holds that id (default: no pid file)
//	-q, --queue-type TYPE     only "builtin"; any other is ignored with a warning (use --store)
//	    --config-file FILE    read options from FILE before the command line (default: none)
//	    --ssl                 serve TLS only, with the three files below
//	    --ssl-certificate F   certificate, PEM (default $GEARMAND_SERVER_PEM; also
//	                          --ssl-cert and --ssl-server-cert)
//	    --ssl-key F           its key, PEM (default $GEARMAND_SERVER_KEY; also --ssl-server-key)
//	    --ssl-ca-file F       when set, clients must present a certificate it signed
//	                          (default $GEARMAND_CA_CERTIFICATE)
//	-V, --version             print the version and exit
//	-h, --help                print the options and exit
//	    --check-args          check the options, the config file and the TLS files, and exit
//
// This server's own:
//
//	--max-packet-size BYTES   largest packet body accepted (default 256 MiB and 64 KiB)
//	--max-spool BYTES         largest streamed payload the server holds whole for a worker
//	                          without the streaming extension; a longer one fails at once
//	                          (default 0: --max-packet-size less 64 KiB, so that the job fits
//	                          one packet; at least 256 KiB; see gearman.Server's Memory)
//	--max-spool-total BYTES   most the server holds so across all such jobs, past each job's
//	                          first 256 KiB window; a payload that needs more fails at once
//	                          (default 0: four times --max-spool)
//	--max-connections N       most connections at once (default 0: no limit)
//	--max-queue N             initial maxqueue limit of every function (default 0: no limit)
//	--enable-shutdown         accept the admin commands "shutdown" and "shutdown graceful"
//	--cpuprofile FILE         write a CPU profile to FILE until exit
//	--max-function-name BYTES longest function name accepted (default 512, gearmand's limit)
//	--max-client-id BYTES     length at which a client id is cut (default 127, as gearmand)
//	--packet-timeout D        time a started packet or admin line has to complete (default 60s;
//	                          negative: none); idle connections are never cut
//	--handshake-timeout D     time a TLS handshake has to complete (default 10s; negative: none)
//	--store URL               keep background jobs across restarts and crashes:
//	                          file:PATH for the embedded store in directory PATH,
//	                          postgres://... for a PostgreSQL database that several
//	                          servers share (a cluster; see the README)
//	                          (default: jobs in memory only; see gearman.Store)
//	--store-salvage           open a damaged store anyway, skipping its damaged records
//	--store-lease D           PostgreSQL: how long this server's hold on the jobs it
//	                          claimed lasts unless renewed (every third of it); a
//	                          dead server's jobs run elsewhere after about this long
//	                          (default 10s)
//	--store-poll D            PostgreSQL: how often to look for jobs without a
//	                          notification; bounds the delay of an epoch or
//	                          scheduled job (default 1s)
//	--http ADDR               serve the operators' HTTP side on ADDR (default: none): /metrics
//	                          (Prometheus), /healthz, /readyz, a live status page at / and a
//	                          JSON API under /api/ (see gearman.Server.Handler); it has no
//	                          authentication, so give a loopback or private address
//	--metric-functions N      functions the metrics label by name, the rest sharing the label
//	                          "(other functions)" (default 100)
//	--retry-failed N          a background job that its worker fails (WORK_FAIL,
//	                          WORK_EXCEPTION) runs again up to N times with exponential
//	                          backoff and jitter, then is kept as a dead letter (default -1:
//	                          gone, as in gearmand; 0: kept at its first failure); the
//	                          admin's "retries" sets it per function (see gearman.RetryPolicy)
//	--retry-backoff D         the first retry's wait, doubled for each next one, each drawn
//	                          between half of it and all of it, in whole seconds (default 10s)
//	--retry-max-backoff D     the longest wait (default 1h)
//	--max-dead-letters N      most dead letters kept; past it the oldest is dropped for each
//	                          new one (default 10000)
//
// Keep-alive: without --keepalive, accepted connections have Go's keep-alive
// (15 s idle, 15 s between probes, 9 probes: a peer that vanished is noticed
// in under three minutes), where gearmand has the system's (on Linux 2 h
// idle). With --keepalive, each of the three settings is the system's when
// it is -1 (the default, as in gearmand), Go's when 0, and else the value
// given. As in gearmand, the three settings apply only with --keepalive.
//
// The config file holds options as on the command line, separated by spaces
// or line ends (gearmand's format; here tabs separate too, and a line whose
// first word starts with "#" is a comment). The command line wins over it.
// Unlike gearmand, there is no default config file (gearmand reads
// /etc/gearmand.conf when it exists).
//
// These of gearmand's are accepted and ignored, each with one warning line
// on standard error that says why: -d/--daemon (run the server under a
// service manager), -u/--user (start it as that user), -f/--file-descriptors
// (Go already raises the soft limit to the hard one), -t/--threads,
// -R/--round-robin (a worker is always served in turn across its
// functions), -w/--worker-wakeup (a new job wakes one worker),
// --hashtable-buckets, -r/--protocol and --http-port (gearmand's HTTP
// protocol module is not here; --http serves metrics and a status page),
// --syslog, --coredump, a --queue-type other than "builtin", and the queue
// modules' options (--libsqlite3-db, --libsqlite3-table,
// --store-queue-on-shutdown, --libmemcached-servers, --libmemcached-prefix,
// --libpq-conninfo, --libpq-table, --redis-server, --redis-port,
// --redis-password, --redis-prefix, --mysql-host, --mysql-port, --mysql-user,
// --mysql-password, --mysql-db, --mysql-table): gearmand's queue modules are
// not here, and --store keeps background jobs instead.
//
// # Limits
//
// --backlog is set by calling listen(2) again on the bound socket (Go's net
// package has no option for it), which Linux and the BSDs honour; elsewhere
// (Windows) it is ignored with a warning.
//
// # Logging
//
// At start the server logs one line at level INFO, whatever --verbose says
// (unless --log-file is "none"): the address it serves, as bound (with -p 0,
// the port the system chose), whether it takes TLS, and where jobs are kept:
//
//	time=... level=INFO msg=serving addr=127.0.0.1:4730 tls=false store="in memory"
//
// With --http, the line ends with http=ADDR, as bound.
//
// Everything else is logged at the --verbose level (default ERROR, which
// leaves a healthy server quiet).
//
// # Signals
//
// As in gearmand, SIGTERM and SIGINT stop the server at once: connections
// are closed, jobs in memory only are lost, and the store (--store) keeps its
// background jobs for the next start. SIGUSR1 stops it gracefully,
// as does the admin command "shutdown graceful" (with --enable-shutdown):
// the listener closes, no job is handed out any more and new submits get
// ERROR SHUTDOWN_GRACEFUL; the running jobs may finish, their results are
// sent to their clients (for up to 5 s), and then the process exits. Queued
// jobs that no worker started are lost, unless kept in the store; idle
// connections do not hold the
// stop up. A second signal of any of the three during a graceful stop stops
// the server at once. The exit code is 0 for every stop asked for this way.
// SIGHUP reopens --log-file by its name (for logrotate), as in gearmand;
// with the log on stderr it does nothing (it no longer kills the process).
package main
