package gearman

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

// DeadLetterInfo is one dead letter as the admin's "show dead" lists it
// (this package's [Server] only; see [RetryPolicy]).
type DeadLetterInfo = wire.DeadLetterInfo

// ClusterFunction is one function of the admin's "cluster status": its
// jobs in a cluster's shared queue (a [Server] on PostgreSQL).
type ClusterFunction = wire.ClusterFunction

// ShowDead returns the "show dead" answer: the dead letters of function
// ("" for all), oldest first. Servers other than this package's answer
// with an error matching [ErrUnknownCommand] or UNKNOWN_SHOW_ARGUMENTS.
func (a *AdminClient) ShowDead(ctx context.Context, function string) ([]DeadLetterInfo, error) {
	words := []string{"show", "dead"}
	if function != "" {
		words = append(words, function)
	}
	return adminList(ctx, a, wire.ParseShowDead, words...)
}

// RetryDead queues dead letters again ("dead retry"): the one with handle,
// else (handle "") those of function, else (both "") all. It returns how
// many.
func (a *AdminClient) RetryDead(ctx context.Context, handle, function string) (int, error) {
	return a.deadCommand(ctx, "retry", handle, function)
}

// PurgeDead forgets dead letters ("dead purge"), picked as by
// [AdminClient.RetryDead]. It returns how many.
func (a *AdminClient) PurgeDead(ctx context.Context, handle, function string) (int, error) {
	return a.deadCommand(ctx, "purge", handle, function)
}

func (a *AdminClient) deadCommand(ctx context.Context, verb, handle, function string) (int, error) {
	words := []string{"dead", verb, "all"}
	switch {
	case handle != "":
		words[2] = handle
	case function != "":
		words = []string{"dead", verb, "function", function}
	}
	v, err := a.Command(ctx, words...)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%w: dead %s answered %q, not a number", wire.ErrBadReply, verb, v)
	}
	return n, nil
}

// SetRetries sets function's retry policy ("retries FN N BACKOFF MAX
// keep|drop"), or with p nil puts it back to the server's ("retries FN
// default"). Zero durations are the server's defaults.
func (a *AdminClient) SetRetries(ctx context.Context, function string, p *RetryPolicy) error {
	words := []string{"retries", function, "default"}
	if p != nil {
		words = []string{"retries", function, strconv.Itoa(max(p.Retries, 0))}
		if p.Backoff > 0 || p.MaxBackoff > 0 {
			words = append(words, durationWord(p.Backoff, "10s"))
		}
		if p.MaxBackoff > 0 {
			words = append(words, p.MaxBackoff.String())
		}
		if p.Keep {
			words = append(words, "keep")
		} else {
			words = append(words, "drop")
		}
	}
	_, err := a.Command(ctx, words...)
	return err
}

// ClusterStatus returns the "cluster status" answer: every function's jobs
// in the shared queue of the cluster the server is in. A server without a
// shared store answers with an [*AdminError] whose Code is NOT_A_CLUSTER.
func (a *AdminClient) ClusterStatus(ctx context.Context) ([]ClusterFunction, error) {
	return adminList(ctx, a, wire.ParseClusterStatus, "cluster", "status")
}

// durationWord returns d as the admin command's word, or def when d is 0.
func durationWord(d time.Duration, def string) string {
	if d <= 0 {
		return def
	}
	return d.String()
}
