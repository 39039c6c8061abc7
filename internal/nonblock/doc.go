// Package nonblock reads and writes a socket through its raw file
// descriptor with system calls that never block the thread. A goroutine that
// must never wait on a peer (a connection's read loop) writes what the socket
// has room for at once and leaves the rest to a writer goroutine; a goroutine
// that takes over a connection nobody was reading first handles what arrived
// meanwhile (the end of the connection, above all) without waiting for more.
//
// Where a method waits (Reader.Read, Writer.WriteBuffers), it waits in the
// runtime's network poller, as the net package does, and the connection's
// deadlines apply. What differs from the net package is the system call
// itself: on Linux it is made without the runtime's bookkeeping for calls
// that may block (entersyscall), which a non-blocking socket call never
// needs. That bookkeeping is not free on a busy connection: it wakes the
// runtime's monitor thread when that sleeps, and lets it hand the
// goroutine's processor to another thread when the call lasts, as a write on
// loopback does while it runs the receiver's side of TCP; the goroutine then
// waits for a processor again when the call returns. (A call that may copy
// more than 64 KiB, and every call under the race detector or a memory
// sanitizer, goes through package syscall all the same.)
//
// So the socket must stay non-blocking, as package net made it: one put
// back in blocking mode (as taking its file descriptor with File and Fd
// does) would block a thread and its processor in a raw call, and with
// them every stop of the world, until the peer sends. NewReader and
// NewWriter check the mode once, and give no Reader or Writer for a socket
// in blocking mode: its owner then uses the net.Conn's own methods. A
// socket put in blocking mode after that is not detected.
package nonblock
