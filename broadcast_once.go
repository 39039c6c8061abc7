package gearman

import (
	"context"
	"fmt"
	"sync"
)

// Each message of a broadcast carries the broadcast's id as its unique id,
// and a worker remembers the ids of the last messages it took: a message
// the server gives it again, after the worker's connection was lost while
// its handler ran, fails without running the handler a second time.

// broadcastSeen is how many of its last broadcasts a worker remembers.
const broadcastSeen = 1024

// broadcastee is a worker's part in broadcasts: its id, its handler and
// the broadcasts it took.
type broadcastee struct {
	id string

	mu   sync.Mutex
	h    Handler
	seen map[string]struct{}
	ring [broadcastSeen]string // the ids in seen, oldest replaced first
	next int
}

func newBroadcastee() *broadcastee {
	return &broadcastee{id: newBroadcastID(), seen: make(map[string]struct{})}
}

// serve makes h the handler of the broadcasts to come.
func (b *broadcastee) serve(h Handler) {
	b.mu.Lock()
	b.h = h
	b.mu.Unlock()
}

// first records broadcast id (a message's unique id) and reports whether
// it is new. Messages without one (sent by other tools) are always new.
func (b *broadcastee) first(id string) bool {
	if id == "" {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[id]; ok {
		return false
	}
	if old := b.ring[b.next]; old != "" {
		delete(b.seen, old)
	}
	b.ring[b.next] = id
	b.next = (b.next + 1) % broadcastSeen
	b.seen[id] = struct{}{}
	return true
}

// Work runs the handler for a broadcast message it has not taken yet.
func (b *broadcastee) Work(ctx context.Context, t *Task) error {
	if !b.first(t.Unique()) {
		return fmt.Errorf("gearman: broadcast %s to worker %s: refused, as this worker took it before (its connection was lost while its handler ran, and the server queued the message again)", t.Unique(), b.id)
	}
	b.mu.Lock()
	h := b.h
	b.mu.Unlock()
	return h.Work(ctx, t)
}
