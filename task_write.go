package gearman

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/seed749d6d6d/gearman/wire"
)

// Write writes the payload (client) or the result (worker).
//
// A client task holds the payload until Close, which sends it in one
// SUBMIT_JOB packet (job servers take a job's payload whole); it refuses more
// than [Options.MaxPayload] bytes. On a connection with the streaming
// extension ([Options.Streaming]) it sends the payload in chunks instead, as
// it is written, with no size limit, blocking while the server grants no
// credit, which comes as the worker reads: when the worker's result grows
// with the payload, read the result meanwhile, from another goroutine, or
// Write blocks until the task's context ends (see [Options.Streaming]); it
// then returns the context's error, also on a background task that is done
// already (see [Conn.Open]).
// Write must then not be called concurrently with Write or Close. A worker
// task sends each Write as WORK_DATA at once, and blocks while the
// connection's send queue is full.
//
// A job server that refuses a submit packet as too large (ERROR
// ARGUMENT_TOO_LARGE: see [Server.MaxPacketSize]) answers and closes the
// connection while the packet is still being written: the Write or Close
// that was sending it then returns the server's refusal, a [*ServerError]
// for which [SafeToRetry] is true, as does Result. Of a Write that fails,
// only the n bytes it reports count toward [Job.Size].
func (t *Task) Write(p []byte) (int, error) {
	t.mu.Lock()
	if t.wclosed {
		t.mu.Unlock()
		return 0, fmt.Errorf("gearman: write to task %s: %w", t.fn, ErrClosed)
	}
	switch t.wmode {
	case writeHeld:
		defer t.mu.Unlock()
		if t.payload.n+int64(len(p)) > t.conn.opts.MaxPayload {
			return 0, unsent(fmt.Errorf("gearman: payload of task %s exceeds %d bytes: %w", t.fn, t.conn.opts.MaxPayload, wire.ErrTooLarge))
		}
		t.payload.write(p)
		return len(p), nil
	case writeSized, writeStream:
		return t.writeBody(p) // unlocks
	case writeBuffered:
		t.buffered = append(t.buffered, p...)
		t.mu.Unlock()
		return len(p), nil
	}
	t.mu.Unlock()
	if err := t.sendWorkData(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeMode is how a task's writes go out. It is fixed when the task is
// opened (client) or assigned (worker), as net/http fixes a body's framing
// once; only Flush changes it, from writeBuffered.
type writeMode uint8

const (
	writeHeld     writeMode = iota // client: held until Close, which submits it whole (payloadBuf)
	writeSized                     // client: the body of a submit packet of declared size, sent as written
	writeStream                    // client: chunks of the streaming extension, under credit
	writeResult                    // worker: WORK_DATA at once
	writeWindowed                  // worker, JOB_ASSIGN_STREAM: WORK_DATA under the result window
	writeBuffered                  // worker, BufferResult: held for WORK_COMPLETE until Flush
)

// writeBody writes p to a payload that goes out as it is written: the body
// of a packet of declared size, or the chunks of a stream, counting it
// against Job.Size when one is declared. t.mu held; writeBody unlocks it.
func (t *Task) writeBody(p []byte) (int, error) {
	if t.job.Size > 0 {
		if int64(len(p)) > t.sizeLeft {
			t.mu.Unlock()
			return 0, t.breakSized(fmt.Errorf("gearman: payload of task %s is longer than its declared Size of %d bytes: %w", t.fn, t.job.Size, wire.ErrTooLarge))
		}
		t.sizeLeft -= int64(len(p))
	}
	last := t.sizeLeft == 0
	t.mu.Unlock()
	if t.wmode == writeSized {
		if err := t.conn.sendBody(p, last); err != nil {
			// Reported as not written: not counted either.
			t.mu.Lock()
			t.sizeLeft += int64(len(p))
			t.mu.Unlock()
			return 0, t.sendFailed(err)
		}
		return len(p), nil
	}
	n, err := t.streamWrite(p)
	if n < len(p) && t.job.Size > 0 {
		t.mu.Lock()
		t.sizeLeft += int64(len(p) - n) // not reported as written
		t.mu.Unlock()
	}
	return n, err
}

// payloadBuf holds a plain client task's payload until Close: the Data the
// task was opened with (the caller's, never written into), then what Write
// gives, copied once into chunks that double in size up to maxPayloadChunk.
// The payload is so held once: it is never copied to grow, nor again into
// the submit packet, which refers to the chunks ([outQueue.packetChunks]).
type payloadBuf struct {
	chunks   [][]byte
	n        int64 // bytes held
	borrowed bool  // chunks[0] is the caller's Data
}

// maxPayloadChunk is the largest chunk a payloadBuf allocates for small
// writes: it bounds the unused room at the end of a payload.
const maxPayloadChunk = 4 << 20

// start makes data, the caller's, the start of the payload.
func (b *payloadBuf) start(data []byte) {
	if len(data) > 0 {
		b.chunks = [][]byte{data}
		b.n = int64(len(data))
		b.borrowed = true
	}
}

// write appends a copy of p.
func (b *payloadBuf) write(p []byte) {
	if k := len(b.chunks); k > 0 && !(k == 1 && b.borrowed) {
		last := b.chunks[k-1]
		m := copy(last[len(last):cap(last)], p)
		b.chunks[k-1] = last[:len(last)+m]
		b.n += int64(m)
		p = p[m:]
	}
	if len(p) == 0 {
		return
	}
	// A payload written at once gets a chunk of its size exactly; one
	// written piecewise, chunks as large as what came before.
	c := make([]byte, len(p), max(len(p), int(min(b.n, maxPayloadChunk))))
	copy(c, p)
	b.chunks = append(b.chunks, c)
	b.n += int64(len(p))
}

// sendWorkData sends a worker's result data as WORK_DATA now: under the
// result window on a streamed job, else in chunks of at most maxChunk.
func (t *Task) sendWorkData(p []byte) error {
	if t.ws != nil {
		_, err := t.windowedWrite(p)
		return err
	}
	for off := 0; off < len(p); {
		n := min(len(p)-off, maxChunk)
		if err := t.conn.sendData(wire.WorkData, t.Handle(), p[off:off+n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// maxChunk is the largest WORK_DATA packet a worker task sends.
const maxChunk = 1 << 20

// Close ends the write side. On a client task it submits the job with the
// payload written so far; the result then comes through Read. On a worker
// task it completes the job (WORK_COMPLETE). Closing twice is an error
// wrapping [ErrClosed].
func (t *Task) Close() error {
	return t.CloseWithError(nil)
}

// CloseWithError ends the write side with err. On a client task a non-nil
// err abandons the job before it is submitted. On a worker task it fails the
// job: with WORK_FAIL when err wraps [ErrJobFailed], else with an exception
// whose message is err's text (WORK_WARNING then WORK_FAIL, or
// WORK_EXCEPTION: see [Options.SendExceptions]).
func (t *Task) CloseWithError(err error) error {
	t.mu.Lock()
	if t.wclosed {
		t.mu.Unlock()
		return fmt.Errorf("gearman: close task %s: %w", t.fn, ErrClosed)
	}
	t.wclosed = true
	switch t.wmode {
	case writeSized, writeStream:
		if t.job.Size > 0 && (err != nil || t.sizeLeft > 0) {
			left := t.sizeLeft
			t.mu.Unlock()
			if err == nil {
				select {
				case <-t.done:
					if t.err != nil {
						// A Write failed, with the task's error: the
						// payload is short for that reason.
						return t.breakSized(t.err)
					}
				default:
				}
				err = fmt.Errorf("gearman: task %s closed after %d of its declared %d bytes: %w", t.fn, t.job.Size-left, t.job.Size, ErrShortPayload)
			}
			return t.breakSized(err)
		}
		t.mu.Unlock()
		if t.wmode == writeSized {
			return nil // the packet went out whole with the last Write
		}
		return t.streamClose(err)
	case writeHeld:
		job := t.job
		chunks := t.payload.chunks
		t.payload = payloadBuf{} // the queue holds it until it is written
		t.mu.Unlock()
		if err != nil {
			t.finish(err)
			return nil
		}
		return t.conn.submitTask(t, job, chunks)
	}
	buffered := t.buffered
	t.buffered = nil
	flush := !t.flushLater
	t.mu.Unlock()
	return t.conn.endJob(t, buffered, err, flush)
}

// Flush sends what a worker task holds for WORK_COMPLETE (see
// [RegisterOptions.BufferResult]) as WORK_DATA now, and makes later writes
// go out as they come. A handler that buffers small results can switch to
// streaming once its output grows. It does nothing on a task that holds
// nothing, and is an error on a client task. Do not call it concurrently
// with Write: their data would go out in either order.
func (t *Task) Flush() error {
	if !t.worker {
		return errors.New("gearman: Flush is for worker tasks")
	}
	t.mu.Lock()
	if t.wclosed {
		t.mu.Unlock()
		return fmt.Errorf("gearman: flush task %s: %w", t.fn, ErrClosed)
	}
	held := t.buffered
	t.buffered = nil
	if t.wmode == writeBuffered {
		t.wmode = resultMode(t, false)
	}
	t.mu.Unlock()
	return t.sendWorkData(held)
}

// sendFailed returns the error of a client task whose submit packet could
// not be written (err): the task's own, once it has ended. The submit
// awaits its reply, so the task ends soon, by the server's answer when it
// sent one before it closed (such as ERROR ARGUMENT_TOO_LARGE, which the
// caller then gets as a [*ServerError]), else by the connection's end.
func (t *Task) sendFailed(err error) error {
	<-t.done
	if t.err != nil {
		return t.err
	}
	return err
}

// breakSized fails a task whose declared-size payload cannot be completed,
// and the connection carrying its unfinished packet, and returns err.
func (t *Task) breakSized(err error) error {
	t.finish(err)
	switch t.wmode {
	case writeSized:
		t.conn.shutdown(fmt.Errorf("gearman: connection to %s: %w: %w", t.conn.addr, ErrConnLost, err))
	case writeStream:
		t.stopStream(err)
	}
	return err
}

// complete ends a worker's job with result as WORK_COMPLETE's data, after
// whatever was buffered, without copying result when nothing was.
func (t *Task) complete(result []byte) error {
	t.mu.Lock()
	if t.wclosed {
		t.mu.Unlock()
		return fmt.Errorf("gearman: close task %s: %w", t.fn, ErrClosed)
	}
	t.wclosed = true
	if len(t.buffered) > 0 {
		result = append(t.buffered, result...)
	}
	t.buffered = nil
	flush := !t.flushLater
	t.mu.Unlock()
	return t.conn.endJob(t, result, nil, flush)
}

// SetStatus sends a progress report (WORK_STATUS) for a worker's job.
func (t *Task) SetStatus(numerator, denominator int64) error {
	if !t.worker {
		return errors.New("gearman: SetStatus is for worker tasks")
	}
	h := []byte(t.Handle())
	return t.conn.send(wire.WorkStatus, h, strconv.AppendInt(nil, numerator, 10), strconv.AppendInt(nil, denominator, 10))
}

// Warn sends a warning (WORK_WARNING) for a worker's job; the job goes on.
func (t *Task) Warn(msg []byte) error {
	if !t.worker {
		return errors.New("gearman: Warn is for worker tasks")
	}
	return t.conn.sendData(wire.WorkWarning, t.Handle(), msg)
}
