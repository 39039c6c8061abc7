// Package wire encodes and decodes the Gearman protocol as bytes: the binary
// packets that clients, workers and job servers exchange, and the admin text
// lines that share the same port.
//
// It is a pure codec over [io.Reader] and [io.Writer]: it owns no network
// connection, starts no goroutine and takes no context. The client, the worker
// and the job server of the parent package all stand on it.
//
// # Packets
//
// A binary packet is a 12-byte header (magic, type, body length) followed by
// a body of NUL-separated arguments. Every [Type] has a fixed number of
// arguments ([Type.NArgs]); the last one runs to the end of the body and, for
// the types that carry a payload ([Type.HasData]), is opaque data that may hold
// NUL bytes.
//
// [AppendPacket] encodes a packet onto a caller's buffer without allocating.
// [Writer] buffers packets for one write call and streams large data
// arguments from an [io.Reader] of known length ([Writer.WriteFrom]).
//
// [Reader] decodes. [Reader.Next] returns whole packets whose arguments alias
// the reader's buffer until the next call, so small packets decode with no
// allocation. [Reader.NextHeader] leaves the data argument unread, to be
// consumed as it arrives through [Reader.Data]: a 1 GiB payload never needs a
// 1 GiB buffer.
//
// # The streaming extension
//
// Packet types 128 to 134 ([SubmitStream] to [ResultWindow]) are not
// Gearman's: they are this module's streaming extension, negotiated with
// OPTION_REQ stream-chunks, for payloads of any size sent in chunks under
// per-job credit windows. STREAMING.md in this directory specifies them for
// other implementations. [OptionGrabHigh] and [OptionAssigned] name the
// other options of this module's server: grabs that take high-priority
// jobs only, and a WORK_STATUS 0 0 that tells a client its job was
// assigned to a worker (gearmand tells a client nothing on assignment).
//
// # Admin text
//
// A message whose first byte is not NUL is a line of the admin text protocol.
// [Reader] tells the two apart and returns such a line as a [Packet] whose
// Magic is [Text]. [AppendCommand] encodes admin commands; [ParseReply],
// [ParseStatus], [ParseWorkers], [ParsePriorityStatus] and [ParseShowJobs]
// read every answer form.
//
// # Errors
//
// Malformed input never panics. Decoding errors are [*ProtocolError] values
// that say where the problem was and wrap one of the sentinel errors
// ([ErrBadMagic], [ErrUnknownType], [ErrTooLarge], [ErrArgCount],
// [ErrLineTooLong]), for use with [errors.Is] and [errors.As].
package wire
