package jobserver

import (
	"context"
	"log/slog"
)

// discardHandler is the slog.Handler of a nil Config.Logger.
type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }

// levelName returns gearmand's name for the most detailed level log writes.
func levelName(log *slog.Logger) string {
	ctx := context.Background()
	switch {
	case log.Enabled(ctx, slog.LevelDebug):
		return "DEBUG"
	case log.Enabled(ctx, slog.LevelInfo):
		return "INFO"
	case log.Enabled(ctx, slog.LevelWarn):
		return "WARNING"
	}
	return "ERROR"
}

func (s *Server) logError(msg string, args ...any) { s.log.Error(msg, args...) }
func (s *Server) logWarn(msg string, args ...any)  { s.log.Warn(msg, args...) }
func (s *Server) logInfo(msg string, args ...any)  { s.log.Info(msg, args...) }
func (s *Server) logDebug(msg string, args ...any) { s.log.Debug(msg, args...) }
