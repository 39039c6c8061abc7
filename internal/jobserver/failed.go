package jobserver

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/seed749d6d6d/gearman/internal/store"
)

// This file is what happens to a background job whose worker fails it
// (WORK_FAIL or WORK_EXCEPTION) when its function's [RetryPolicy] is on:
// it waits, with exponential backoff and jitter, and runs again, up to
// RetryPolicy.Retries times; then, with RetryPolicy.Keep, it becomes a
// dead letter: out of every queue, kept with its last error for an
// operator to retry or purge (deadletters.go). With the policy off (the
// default) a failed job is gone, as in gearmand.
//
// A retry waits like an epoch job (lifecycle.go's stateWaiting), so its
// time is in whole seconds: a backoff is rounded up to the next second.

// RetryPolicy is what the server does with a background job whose worker
// fails it. The zero value is gearmand's behaviour: the job is gone.
type RetryPolicy struct {
	// Retries is how many times a failed job runs again before it is
	// given up: 0 = none.
	Retries int
	// Backoff is the wait before the first retry; each next one waits
	// twice as long, up to MaxBackoff. Each wait is drawn at random
	// between half of it and all of it (jitter), so jobs that failed
	// together do not come back together. Default DefaultRetryBackoff.
	Backoff time.Duration
	// MaxBackoff caps a retry's wait. Default DefaultRetryMaxBackoff.
	MaxBackoff time.Duration
	// Keep keeps a job that is out of retries as a dead letter; else it
	// is gone.
	Keep bool
}

// Defaults of RetryPolicy's waits.
const (
	DefaultRetryBackoff    = 10 * time.Second
	DefaultRetryMaxBackoff = time.Hour
)

// DefaultMaxDeadLetters is the default of Config.MaxDeadLetters.
const DefaultMaxDeadLetters = 10000

// maxErrorText bounds the last error a dead letter keeps, in bytes: a
// WORK_EXCEPTION's data may be as large as a packet.
const maxErrorText = 1024

// errWorkFail is the error a WORK_FAIL leaves: it carries no reason.
const errWorkFail = "WORK_FAIL"

// On reports whether the policy changes anything: retries, or dead letters.
func (p RetryPolicy) On() bool { return p.Retries > 0 || p.Keep }

// withDefaults returns p with its zero waits set to the defaults.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Backoff <= 0 {
		p.Backoff = DefaultRetryBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultRetryMaxBackoff
	}
	p.MaxBackoff = max(p.MaxBackoff, p.Backoff)
	p.Retries = max(p.Retries, 0)
	return p
}

// wait returns the wait before the retry that follows the n-th failure
// (n >= 1): Backoff doubled n-1 times, capped at MaxBackoff, less a random
// part of up to half of it.
func (p RetryPolicy) wait(n int) time.Duration {
	d := p.Backoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	half := d / 2
	return d - half + time.Duration(rand.Int64N(int64(half)+1))
}

// failure is what a job keeps of its failures (in jobExtra).
type failure struct {
	n           int32  // failed attempts since submitted or revived
	err         string // the last one's reason
	first, last int64  // Unix nanoseconds
}

// failInfo returns j's failures, or nil when it never failed.
func (j *job) failInfo() *failure {
	if j.extra == nil {
		return nil
	}
	return j.extra.fail
}

// policy returns the retry policy of f: its own, or the server's.
func (s *Server) policy(f *function) RetryPolicy {
	if f.retry != nil {
		return *f.retry
	}
	return s.cfg.Retry
}

// noteWarning keeps the data of a WORK_WARNING of running job j, when
// its function's policy is on: a WORK_FAIL that follows has it as its
// reason (this package's workers report a handler's error so, and
// libgearman's workers send WORK_WARNING before WORK_FAIL too).
func (s *Server) noteWarning(j *job, data []byte) {
	if !j.bg || j.st != nil || !s.policy(j.fn).On() {
		return
	}
	if j.extra == nil {
		j.extra = &jobExtra{}
	}
	j.extra.warning = errorText(data)
}

// takeWarning returns and forgets the warning noteWarning kept.
func (j *job) takeWarning() string {
	if j.extra == nil {
		return ""
	}
	w := j.extra.warning
	j.extra.warning = ""
	return w
}

// failed handles a WORK_FAIL (reason "") or WORK_EXCEPTION of running job
// j, whose clients have been told: with its function's policy on, a
// background job is retried or becomes a dead letter; anything else ends
// as before (finish).
func (s *Server) failed(j *job, reason []byte) {
	p := s.policy(j.fn)
	warning := j.takeWarning()
	if !p.On() || !j.bg || j.st != nil || j.canceled {
		s.finish(j)
		return
	}
	if len(reason) == 0 && warning != "" {
		reason = []byte(warning)
	}
	p = p.withDefaults()
	s.release(j)
	s.detachClients(j)
	j.num, j.den = 0, 0
	now := s.clock.Now()
	fl := s.noteFailure(j, now, reason)
	if int(fl.n) <= p.Retries {
		s.retryLater(j, now.Add(p.wait(int(fl.n))))
		return
	}
	s.logWarn("background job failed: out of retries", "handle", s.handleString(j), "function", j.fn.name,
		"attempts", fl.n, "error", fl.err, "kept", p.Keep)
	if !p.Keep {
		s.ended(j)
		return
	}
	if sc := j.sched(); sc != nil {
		// The schedule goes on (ended forgets the failures): its run is
		// kept as a one-off copy.
		s.bury(s.deadCopy(j))
		s.ended(j)
		return
	}
	s.bury(j)
}

// keepLost makes released background job j, whose last attempt
// (Config.JobRetries) was lost with its worker, a dead letter when its
// function keeps them, and reports whether it did. s.mu held.
func (s *Server) keepLost(j *job) bool {
	if !s.policy(j.fn).Keep || !j.bg || j.st != nil || j.canceled || j.sched() != nil {
		return false
	}
	s.detachClients(j)
	s.noteFailure(j, s.clock.Now(), []byte(strconv.Itoa(int(j.retries))+" attempts lost with their workers"))
	s.bury(j)
	return true
}

// noteFailure counts a failed attempt of j at now, for reason.
func (s *Server) noteFailure(j *job, now time.Time, reason []byte) *failure {
	fl := j.failInfo()
	if fl == nil {
		fl = &failure{first: now.UnixNano()}
		if j.extra == nil {
			j.extra = &jobExtra{}
		}
		j.extra.fail = fl
	}
	fl.n++
	fl.last = now.UnixNano()
	fl.err = errorText(reason)
	return fl
}

// retryLater makes released job j wait until at (rounded up to a whole
// second) and run again.
func (s *Server) retryLater(j *job, at time.Time) {
	when := at.Unix()
	if at.Nanosecond() > 0 {
		when++
	}
	s.mRetried(j)
	if j.stored {
		var sj store.Job
		s.toStored(j, &sj)
		sj.When = when
		j.ref = s.store.Failed(j.ref, sj)
		if s.shared != nil {
			// It waits in the shared queue: any server retries it.
			j.stored = false
			s.free(j)
			return
		}
	}
	s.wait(j, when)
}

// errorText is the reason a failure keeps: a WORK_EXCEPTION's data (or
// the WORK_WARNING's before a WORK_FAIL), cut to maxErrorText bytes on a
// rune boundary, or WORK_FAIL.
func errorText(reason []byte) string {
	if len(reason) == 0 {
		return errWorkFail
	}
	if len(reason) > maxErrorText {
		n := maxErrorText
		for n > 0 && !utf8.RuneStart(reason[n]) {
			n--
		}
		reason = reason[:n]
	}
	return strings.ToValidUTF8(string(reason), "\uFFFD")
}
