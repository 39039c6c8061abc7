//go:build race

package gearman_test

const raceEnabled = true
