// Package gearman is a stream-first Gearman client, worker and job server.
//
// Every job is a [Task]: a full-duplex [io.ReadWriteCloser] with a [Future]
// for its result. A client writes the payload and reads the result; a worker
// reads the payload and writes the result:
//
//	pool, _ := gearman.NewPool([]string{"127.0.0.1:4730"}, nil)
//	defer pool.Close()
//	task, _ := pool.Open(ctx, gearman.Job{Func: "gzip"})
//	io.Copy(task, file) // the payload, held until Close
//	task.Close()        // submit it
//	io.Copy(out, task)  // the result, as the worker writes it
//
// With [Options.Streaming] the payload goes out as it is written instead,
// and the result comes back meanwhile: write and read at once (see
// "Streaming"), as this sequential pattern then blocks once the result
// outgrows its window.
//
// # Tasks are streams
//
// [Pool.Submit] and [Conn.Submit] send a payload held in memory and wait
// until the server has created the job; [Pool.Open] and [Conn.Open] return a
// task whose payload is written to it and sent on Close. Either way the
// result is read from the task as it arrives: every WORK_DATA packet the
// worker sends, then WORK_COMPLETE's data. Read returns [io.EOF] after a
// completed job, or the job's error: [ErrJobFailed], a [*JobException], or
// an error wrapping [ErrConnLost]. Progress comes on [Task.Status] and
// [Task.Warnings]; the job handle is known once [Task.Created] is closed.
//
// # Futures
//
// A [Task] is a [Future]: [Task.Done] is closed when the job ends,
// [Task.Err] then says how, and [Task.Result] waits for the whole result.
// Result returns what Read has not consumed, so a program may read the start
// of a result as a stream and collect the rest with Result. A background job
// ([Job.Background]) is done as soon as the server has queued it.
//
// [Pool.Do] and [Conn.Do] are Submit and Result in one call, for the
// common case of a payload and result in memory: they wait once, not
// twice, and are the fastest way to run a job.
//
// # Workers
//
// [Pool.Register] (or [Conn.Register]) serves a function with a [Handler],
// whose task reads the payload and writes the result; [BytesHandler] adapts a
// function of []byte. A handler may submit jobs of its own and await their
// futures, but not of functions its own pool (or connection) serves: while
// it waits it holds one of the MaxJobs slots, and when such handlers hold
// them all nothing runs the sub-jobs (see [Pool]). Returning an error fails the job; a panic fails it as an exception
// and the worker goes on. [Options.MaxJobs] bounds the jobs run at once
// (across all servers, for a pool); a worker asks for a job only when it has
// room for it, and sleeps (PRE_SLEEP) until the server wakes it.
//
// # Pools and reconnection
//
// A [Pool] holds a connection to each server. Submits go round-robin over
// the servers that are up (or to the first, with [Sequence]); a submit that a
// server refuses, or that never left this process, is tried on the next
// server; [SafeToRetry] tells when a failed submit was created nowhere.
// Registered functions are registered on every server, again after every
// reconnect; lost servers are redialled with exponential backoff and jitter.
// [Pool.Events] reports connections going up and down.
//
// # Flow control and memory
//
// Many tasks share one connection. One goroutine at a time reads it and
// routes each packet to its task's buffer of [Options.TaskBuffer] bytes (a
// caller of [Conn.Do], [Conn.Submit] or [Task.Result] that finds nobody
// reading reads its own replies: see [Conn]); a payload or
// result larger than that streams through it and is never held whole. When a
// task's buffer is full, the connection stops reading until that task's
// reader catches up: stock Gearman has no per-job flow control, so a slow
// reader holds back the other tasks on its connection (head-of-line
// blocking) rather than losing data or growing memory without bound. Read
// what you submit, or call Result, or cancel the task's context, after which
// the connection drops what comes for it. A client payload goes to the
// server in one SUBMIT_JOB packet when the task is closed, as job servers
// take a payload whole; [Options.MaxPayload] bounds it.
//
// # Streaming
//
// With [Options.Streaming] against this package's [Server], a connection
// negotiates streaming mode and the streaming extension (wire/STREAMING.md).
// A task from [Conn.Open] then sends its payload in chunks as the caller
// writes (Write blocks while the server grants no credit), the worker's
// handler reads them as they come, and its writes come back under credit the
// task grants as the caller reads: a slow reader holds back its own job's
// producers, through the server, and no other task, and every party holds at
// most a window (256 KiB) of each job in each direction. Payloads have no
// size limit.
//
// The payload and the result then flow at once, so write the one and read
// the other at once, from two goroutines:
//
//	task, _ := c.Open(ctx, gearman.Job{Func: "gzip"})
//	go func() { io.Copy(task, file); task.Close() }()
//	io.Copy(out, task)
//
// Writing the whole payload before reading works only while the result
// fits the task's windows (a checksum, say). A result that grows with the
// payload fills its window while nobody reads it; the worker, blocked on
// its result, stops reading the payload, and the payload's Write waits for
// credit until the task's context ends. A job with a unique id, At, Schedule or Reducer goes as a
// plain job. Servers with streaming mode but not the extension (the abraxas
// server) get whole payloads; servers without streaming mode (gearmand) make
// Dial fail with an error wrapping [ErrNotSupported].
//
// # Groups and timeouts
//
// [NewGroup] runs a sequence of jobs as one through a [Pool] or a [Conn]:
// [Group.Results] yields each job's index and outcome as it ends, at most
// [GroupOptions.MaxInFlight] in flight at once, and [Group.Wait] gives the
// counts. [Job.AssignTimeout] withdraws a job no worker took in time
// ([ErrAssignTimeout]: it never ran) and [Job.RunTimeout] abandons one that
// ran too long ([ErrRunTimeout]), beside the context's own deadline.
//
// # Broadcasts
//
// [Pool.HandleBroadcasts] makes a pool take part in broadcasts and
// [Pool.Broadcast] sends one message to every worker that does (or every
// one serving a function), once each, and yields each worker's answer:
// one job per worker, through a function of the worker's own that the
// servers' admin "workers" list shows, so it works on gearmand too (see
// [Broadcast] for who counts as every worker).
//
// # Priority slots
//
// [PoolOptions.ReservedHigh] keeps some of a worker pool's slots for
// high-priority jobs, so that a flood of others never takes them all; on
// this package's server the reserved slots take high jobs through a second
// connection per server, which asks for those alone (wire.OptionGrabHigh).
//
// # Tracing
//
// [Options.Trace] sees every packet a connection sends and receives, and
// those it did not expect (see [PacketTrace]).
//
// # Job servers
//
// [Server] is a job server that speaks the whole binary and admin protocol;
// cmd/gearmand runs it. [AdminClient] speaks the admin protocol to any
// server.
//
// # Testing with gearmantest
//
// Package gearmantest runs the real job server in memory for tests, as
// net/http/httptest does for HTTP.
package gearman
