package gearman

import (
	"sync"
	"time"

	"github.com/seed749d6d6d/gearman/internal/store"
)

// AcceptWrappedSockets makes connections dialled from now on read and write
// through the raw socket of a net.Conn wrapper that provides one, as they
// do for a plain *net.TCPConn, and returns a function that restores the
// default.
func AcceptWrappedSockets() (restore func()) {
	anySocketForTest.Store(true)
	return func() { anySocketForTest.Store(false) }
}

// ReadingParked reports whether nobody reads c: its reading is parked (see
// park and parkIdle).
func (c *Conn) ReadingParked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rd.parked
}

// SetParkCheck sets how often connections dialled from now on check for a
// handler that keeps their read loop parked (see park), and returns a
// function that restores the old period.
func SetParkCheck(d time.Duration) (restore func()) {
	old := parkCheck
	parkCheck = d
	return func() { parkCheck = old }
}

// SetBroadcastListWait sets how long a broadcast waits for each server's
// workers list, and returns a function that restores the old bound.
func SetBroadcastListWait(d time.Duration) (restore func()) {
	old := listWait
	listWait = d
	return func() { listWait = old }
}

// CallerReading reports whether a Do's caller reads c (see readFor).
func (c *Conn) CallerReading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rd.caller != nil
}

// StoreHealth makes st's Healthy answer what set says (nil: the store's
// own answer), as a store that cannot be reached would. Call it before st
// is given to a Server.
func StoreHealth(st *Store) (set func(error)) {
	h := &healthOverride{Log: st.log}
	st.log = h
	return func(err error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.err = err
	}
}

type healthOverride struct {
	store.Log
	mu  sync.Mutex
	err error
}

func (h *healthOverride) Healthy() error {
	h.mu.Lock()
	err := h.err
	h.mu.Unlock()
	if err != nil {
		return err
	}
	return h.Log.Healthy()
}

// ReadsRaw reports whether c reads its socket through its raw file
// descriptor (internal/nonblock) rather than the net.Conn's Read.
func (c *Conn) ReadsRaw() bool { return c.rd.src.try != nil }
