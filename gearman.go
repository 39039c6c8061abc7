// Package gearman is a stream-first Gearman client, worker and job server.
package gearman
