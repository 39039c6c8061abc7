module github.com/seed749d6d6d/gearman

go 1.26

require (
	github.com/google/go-cmp v0.7.0
	github.com/jpillora/backoff v1.1.0
	go.uber.org/goleak v1.3.0
)
