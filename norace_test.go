//go:build !race

package gearman_test

const raceEnabled = false
