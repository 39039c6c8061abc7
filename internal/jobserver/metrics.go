package jobserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seed749d6d6d/gearman/internal/clock"
	"github.com/seed749d6d6d/gearman/wire"
)

// This file counts what the metrics report (package internal/ops turns
// it into Prometheus metrics). Nothing is counted until EnableMetrics is
// called: before, every hook returns at a nil check. After, every hook
// runs with s.mu held, which the event's handling holds anyway, so the
// counters are plain integers, not atomics, and a scrape reads them under
// the same lock, once.
//
// Function names come from peers, so at most maxLabels of them are
// counted under their own name; the rest share [OtherLabel]. A name keeps
// its label once given (a counter must not go back when a function is
// forgotten and comes again), so the labels are the first maxLabels
// function names the counting saw.

// OtherLabel is the function label the functions past the cap share. It
// holds a space, which no function name this server accepts can hold
// (wire.ValidFunctionName).
const OtherLabel = "(other functions)"

// DefaultMetricFunctions is the default cap on labelled functions.
const DefaultMetricFunctions = 100

// Job results, the result label of the finished counter.
const (
	ResultComplete = iota
	ResultFail
	ResultException
	ResultTimeout
	ResultCancelled
	NumResults
)

// ResultNames are the label values of the results, by index.
var ResultNames = [NumResults]string{"complete", "fail", "exception", "timeout", "cancelled"}

// Reasons a submit is refused, the reason label of the rejected counter.
const (
	RejectQueueFull = iota
	RejectStore
	RejectShutdown
	RejectUnique
	RejectOther
	NumRejects
)

// RejectNames are the label values of the reasons, by index.
var RejectNames = [NumRejects]string{"queue_full", "store_error", "shutting_down", "bad_unique", "other"}

// HistogramBounds are the upper bounds, in seconds, of the buckets of the
// wait and run histograms.
var HistogramBounds = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// Histogram is a snapshot of a histogram over [HistogramBounds].
type Histogram struct {
	Count   uint64
	Sum     float64  // seconds
	Buckets []uint64 // cumulative: Buckets[i] counts observations <= HistogramBounds[i]
}

// hist is a histogram counted under s.mu: per-bucket counts, not
// cumulative, the last one for observations past every bound.
type hist struct {
	n   [len(HistogramBounds) + 1]uint64
	sum float64
}

func (h *hist) observe(ns int64) {
	v := float64(ns) * 1e-9
	i, _ := slices.BinarySearch(HistogramBounds[:], v)
	h.n[i]++
	h.sum += v
}

func (h *hist) snapshot() Histogram {
	out := Histogram{Sum: h.sum, Buckets: make([]uint64, len(HistogramBounds))}
	var c uint64
	for i := range HistogramBounds {
		c += h.n[i]
		out.Buckets[i] = c
	}
	out.Count = c + h.n[len(HistogramBounds)]
	return out
}

// funcStats are the counters of one label.
type funcStats struct {
	label     string
	submitted uint64
	coalesced uint64
	requeued  uint64
	retried   uint64 // failed attempts queued again, and dead letters retried (failed.go)
	buried    uint64 // jobs that became dead letters
	dropped   uint64 // dead letters dropped for the list's bound
	finished  [NumResults]uint64
	wait, run hist
}

// stats are the server's counters; guarded by Server.mu.
type stats struct {
	maxLabels int
	labels    map[string]*funcStats
	other     *funcStats
	otherUsed bool // some function was counted under OtherLabel
	rejected  [NumRejects]uint64
	epoch     time.Time // the clock when counting began; job.since counts from it
}

// EnableMetrics turns counting on, with at most maxLabels functions
// counted under their own name (0: DefaultMetricFunctions). Later calls
// change nothing. Jobs queued before it are not in the wait histogram nor
// in the oldest job's age.
func (s *Server) EnableMetrics(maxLabels int) {
	if maxLabels <= 0 {
		maxLabels = DefaultMetricFunctions
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stats == nil {
		s.stats = &stats{
			maxLabels: maxLabels,
			labels:    make(map[string]*funcStats),
			other:     &funcStats{label: OtherLabel},
			epoch:     s.clock.Now(),
		}
	}
}

// mNow returns the time for job.since: nanoseconds since the epoch, plus
// one so that it is never 0 (unset). With the real clock it reads only
// the monotonic clock, once (time.Now reads the wall clock too).
func (s *Server) mNow() int64 {
	if _, ok := s.clock.(clock.Real); ok {
		return int64(time.Since(s.stats.epoch)) + 1
	}
	return int64(s.clock.Now().Sub(s.stats.epoch)) + 1
}

// sinceTime converts a job.since to a time.
func (st *stats) sinceTime(since int64) time.Time { return st.epoch.Add(time.Duration(since - 1)) }

// fstats returns the counters of f's label; s.stats != nil.
func (s *Server) fstats(f *function) *funcStats {
	if f.stats == nil {
		f.stats = s.stats.label(f.name)
	}
	return f.stats
}

// label returns the counters of a function name, giving it a label of
// its own while there is room.
func (st *stats) label(name string) *funcStats {
	if fs := st.labels[name]; fs != nil {
		return fs
	}
	if len(st.labels) >= st.maxLabels {
		st.otherUsed = true
		return st.other
	}
	fs := &funcStats{label: name}
	st.labels[name] = fs
	return fs
}

// The hooks, each called with s.mu held where the event happens.

// mSubmitted counts a new job of f.
func (s *Server) mSubmitted(f *function) {
	if s.stats != nil {
		s.fstats(f).submitted++
	}
}

// mStreamQueued counts a new stream job, queued as it is made.
func (s *Server) mStreamQueued(j *job) {
	if s.stats != nil {
		s.fstats(j.fn).submitted++
		j.since = s.mNow()
	}
}

// mCoalesced counts a submit that joined a job of f with its unique id.
func (s *Server) mCoalesced(f *function) {
	if s.stats != nil {
		s.fstats(f).coalesced++
	}
}

// mRejected counts a refused submit by its error.
func (s *Server) mRejected(e [2][]byte) {
	if s.stats == nil {
		return
	}
	r := RejectOther
	switch {
	case bytes.Equal(e[1], errQueueFull[1]):
		r = RejectQueueFull
	case bytes.Equal(e[0], errQueueFull[0]):
		r = RejectStore // queueError: same code, the store's reason
	case bytes.Equal(e[0], errShuttingDown[0]):
		r = RejectShutdown
	case bytes.Equal(e[1], errUniqueTooLarge[1]), bytes.Equal(e[0], errUniqueStreaming[0]):
		r = RejectUnique
	}
	s.stats.rejected[r]++
}

// mQueued notes when j entered its queue, for its wait and the oldest
// job's age.
func (s *Server) mQueued(j *job) {
	if s.stats != nil {
		j.since = s.mNow()
	}
}

// mStarted counts j's wait and notes when its run started.
func (s *Server) mStarted(j *job) {
	if s.stats == nil {
		return
	}
	now := s.mNow()
	if j.since != 0 {
		s.fstats(j.fn).wait.observe(now - j.since)
	}
	j.since = now
}

// mRequeued counts a lost attempt of j that queues it again.
func (s *Server) mRequeued(j *job) {
	if s.stats != nil {
		s.fstats(j.fn).requeued++
	}
}

// mRetried counts a failed job queued again: after its backoff, or out
// of the dead-letter list.
func (s *Server) mRetried(j *job) {
	if s.stats != nil {
		s.fstats(j.fn).retried++
	}
}

// mDead counts a job that became a dead letter.
func (s *Server) mDead(j *job) {
	if s.stats != nil {
		s.fstats(j.fn).buried++
	}
}

// mDeadDropped counts a dead letter dropped for the list's bound.
func (s *Server) mDeadDropped(j *job) {
	if s.stats != nil {
		s.fstats(j.fn).dropped++
	}
}

// mEnded counts the end of j (or of a scheduled job's run) with result r,
// and, for a running job, its run's length.
func (s *Server) mEnded(j *job, r int) {
	if s.stats == nil || j.canceled {
		return // a cancelled job was counted when it was cancelled
	}
	fs := s.fstats(j.fn)
	fs.finished[r]++
	if j.state == stateRunning && j.since != 0 {
		fs.run.observe(s.mNow() - j.since)
	}
	j.since = 0
}

// FuncMetrics are one label's figures: the counters, and the state of the
// functions counted under it, summed.
type FuncMetrics struct {
	Label                string
	Total, Running       int        // jobs in any state; held by workers
	Queued               [nPrio]int // waiting for a worker, by priority (high, normal, low)
	Scheduled            int        // epoch and scheduled jobs whose time has not come
	Workers              int        // registrations
	Oldest               time.Time  // when the longest-queued job was queued; zero when none is known
	Submitted, Coalesced uint64     // new jobs; submits that joined one by unique id
	Requeued             uint64     // lost attempts queued again
	Retried              uint64     // failed attempts queued again, and dead letters retried
	Buried               uint64     // jobs that became dead letters
	DeadDropped          uint64     // dead letters dropped for the list's bound
	DeadLetters          int        // dead letters now: this server's, or with a shared store the cluster's
	Finished             [NumResults]uint64
	Wait, Run            Histogram
}

// Metrics is a snapshot of what the metrics report.
type Metrics struct {
	Now         time.Time // the engine's clock when the snapshot was taken
	Enabled     bool      // EnableMetrics was called; else only the state is filled in
	Connections int
	Rejected    [NumRejects]uint64
	Funcs       []FuncMetrics // by label, OtherLabel last when used
	// DeadUnknown is set when the shared store could not count the
	// cluster's dead letters: FuncMetrics.DeadLetters are all 0 then.
	DeadUnknown bool
}

// Metrics returns a snapshot of the counters and the state, by label.
// With a shared store, the dead letters are the cluster's, from
// DeadCounts, which ctx bounds.
func (s *Server) Metrics(ctx context.Context) Metrics {
	var (
		sharedDead map[string]int
		deadErr    error
	)
	if s.shared != nil {
		sharedDead, deadErr = s.DeadCounts(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := Metrics{Now: s.clock.Now(), Enabled: s.stats != nil, Connections: len(s.conns), DeadUnknown: deadErr != nil}
	byLabel := map[string]*FuncMetrics{}
	get := func(label string) *FuncMetrics {
		fm := byLabel[label]
		if fm == nil {
			fm = &FuncMetrics{Label: label}
			byLabel[label] = fm
		}
		return fm
	}
	if st := s.stats; st != nil {
		m.Rejected = st.rejected
		for _, fs := range st.labels {
			fillCounters(get(fs.label), fs)
		}
	}
	for _, f := range s.funcs {
		label := f.name
		if s.stats != nil {
			label = s.fstats(f).label
		}
		fm := get(label)
		fm.Total += f.total
		fm.Running += f.running
		fm.Scheduled += f.waiting
		fm.Workers += f.workers
		for p := range nPrio {
			fm.Queued[p] += f.queue[p].n + f.streamq[p].n
		}
		if t := s.oldestQueued(f); !t.IsZero() && (fm.Oldest.IsZero() || t.Before(fm.Oldest)) {
			fm.Oldest = t
		}
	}
	deadLabel := func(name string) string {
		if s.stats != nil {
			return s.stats.label(name).label
		}
		return name
	}
	for j := s.deadq.head; j != nil; j = j.next {
		get(deadLabel(j.fn.name)).DeadLetters++
	}
	for name, n := range sharedDead {
		get(deadLabel(name)).DeadLetters += n
	}
	if st := s.stats; st != nil && st.otherUsed {
		fillCounters(get(OtherLabel), st.other)
	}
	for _, fm := range byLabel {
		m.Funcs = append(m.Funcs, *fm)
	}
	slices.SortFunc(m.Funcs, func(a, b FuncMetrics) int {
		switch {
		case a.Label == OtherLabel:
			return 1
		case b.Label == OtherLabel:
			return -1
		}
		return strings.Compare(a.Label, b.Label)
	})
	return m
}

// oldestQueued returns when the longest-queued job of f was queued, as far
// as the heads of its lists tell (a stream job whose payload completed
// joins the tail of a list with its first time), or zero when none is
// known.
func (s *Server) oldestQueued(f *function) time.Time {
	var oldest int64
	for p := range nPrio {
		for _, l := range []*jobList{&f.queue[p], &f.streamq[p]} {
			if h := l.head; h != nil && h.since != 0 && (oldest == 0 || h.since < oldest) {
				oldest = h.since
			}
		}
	}
	if oldest == 0 || s.stats == nil {
		return time.Time{}
	}
	return s.stats.sinceTime(oldest)
}

func fillCounters(fm *FuncMetrics, fs *funcStats) {
	fm.Submitted, fm.Coalesced, fm.Requeued = fs.submitted, fs.coalesced, fs.requeued
	fm.Retried, fm.Buried, fm.DeadDropped = fs.retried, fs.buried, fs.dropped
	fm.Finished = fs.finished
	fm.Wait, fm.Run = fs.wait.snapshot(), fs.run.snapshot()
}

// Ready returns nil when the server serves: it listens, is not closing,
// and its store, if any, can write records and be reached now
// (store.Log.Ping, within ctx). Otherwise it says why not.
func (s *Server) Ready(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed || s.draining:
		s.mu.Unlock()
		return ErrClosed
	case len(s.listeners) == 0:
		s.mu.Unlock()
		return ErrNotListening
	}
	s.mu.Unlock()
	if s.store == nil {
		return nil
	}
	err := s.store.Healthy()
	if err == nil {
		err = s.store.Ping(ctx)
	}
	if err != nil {
		return fmt.Errorf("gearman: store %s: %w", s.store.Where(), err)
	}
	return nil
}

// ErrNotListening is Ready's error while the server serves no listener.
var ErrNotListening = errors.New("gearman: server is not listening")

// workResult is the result of a WORK_COMPLETE or WORK_FAIL.
func workResult(t wire.Type) int {
	if t == wire.WorkFail {
		return ResultFail
	}
	return ResultComplete
}
