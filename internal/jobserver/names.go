package jobserver

import (
	"github.com/seed749d6d6d/gearman/wire"
)

// Function names and client ids are limited so that no peer can make the
// server hold (and list, in every admin status) more than a few hundred
// bytes per name, nor forge lines of the admin lists with bytes the text
// protocol cannot carry (package wire's ValidFunctionName and
// ValidClientID); and a function the server made for peers that have all
// gone, with no job and no worker left, is forgotten.

// DefaultMaxFunctionName is the longest function name accepted by default:
// gearmand's GEARMAN_FUNCTION_MAX_SIZE.
const DefaultMaxFunctionName = 512

// DefaultMaxClientID is the length at which SET_CLIENT_ID values are cut
// by default, as gearmand cuts them.
const DefaultMaxClientID = 127

var errNameTooLong = []byte("ARGUMENT_TOO_LARGE")

// Texts of the refusals of names the admin protocol cannot carry
// (wire.ValidFunctionName, wire.ValidClientID, wire.ValidUnique).
const (
	msgBadFunctionName = "Function name holds a space or control character"
	msgBadClientID     = "Client id holds a control character"
	msgBadUnique       = "Unique id holds a line break"
)

// functionArg returns the function name a request carries, if it is one
// that names a function it may create.
func functionArg(p wire.Packet) ([]byte, bool) {
	switch {
	case inlineSubmit(p.Type), p.Type == wire.CanDo, p.Type == wire.CanDoTimeout:
		return p.Args[0], true
	case p.Type == wire.SubmitStream:
		return p.Args[2], true
	}
	return nil, false
}

// checkName refuses a request whose function name (or a submit's unique
// id) the server does not accept, with an ERROR; otherwise it records that c uses the function. It
// reports whether the request may go on, and for a refused one whether c
// must close (keep false). s.mu held.
func (s *Server) checkName(c *conn, p wire.Packet) (ok, keep bool) {
	name, has := functionArg(p)
	if !has {
		return true, true
	}
	if len(name) > s.cfg.MaxFunctionName {
		s.logDebug("function name too long", "conn", c.id, "addr", c.ip, "len", len(name))
		return false, s.refuseName(c, p, errNameTooLong, "Function name longer than the server accepts")
	}
	if wire.ValidFunctionName(name) != nil {
		s.logDebug("function name with a space or control character refused", "conn", c.id, "addr", c.ip)
		return false, s.refuseName(c, p, errBadArgument[0], msgBadFunctionName)
	}
	if inlineSubmit(p.Type) && wire.ValidUnique(p.Args[1]) != nil {
		s.logDebug("unique id with a line break refused", "conn", c.id, "addr", c.ip)
		return false, s.refuseName(c, p, errBadArgument[0], msgBadUnique)
	}
	if p.Type == wire.SubmitStream && !c.chunks {
		return true, true // refused as unexpected by handleStream
	}
	s.touch(c, name)
	return true, true
}

// refuseName answers a request with an unacceptable function name. Within
// the streaming extension a refused SUBMIT_STREAM would leave its stream
// in no known state: it is a violation, which closes c.
func (s *Server) refuseName(c *conn, p wire.Packet, code []byte, why string) bool {
	if p.Type == wire.SubmitStream {
		if !c.chunks {
			c.sendError(errNotExpected)
			return true
		}
		return s.violation(c, why)
	}
	c.send(wire.Res, wire.Error, code, []byte(why))
	return true
}

// touch records that c uses the function called name (it registered it
// or submitted to it), creating it: a function is kept while a connection
// that used it is open (see forgetIfUnused). s.mu held.
func (s *Server) touch(c *conn, name []byte) {
	if f := c.lastTouched; f != nil && f.name == string(name) && s.funcs[f.name] == f {
		return
	}
	f := s.fn(name)
	c.lastTouched = f
	if _, ok := c.touched[f]; ok {
		return
	}
	if c.touched == nil {
		c.touched = make(map[*function]struct{})
	}
	c.touched[f] = struct{}{}
	f.users++
}

// untouchAll forgets what c used, once c has gone: each function it used
// that nothing refers to any more is forgotten. s.mu held.
func (s *Server) untouchAll(c *conn) {
	for f := range c.touched {
		f.users--
		s.forgetIfUnused(f)
	}
	c.touched, c.lastTouched = nil, nil
}

// forgetIfUnused removes function f from the server when nothing refers
// to it: no open connection that used it, no registration, no job in any
// state, and nothing an admin (create function, maxqueue) or gearmantest
// (Stall) set on it; a function they made or configured stays until the
// admin's drop function. s.mu held.
func (s *Server) forgetIfUnused(f *function) {
	if f.users > 0 || f.workers > 0 || f.total > 0 || f.dead > 0 || f.kept || f.stalled {
		return
	}
	if s.funcs[f.name] == f {
		delete(s.funcs, f.name)
	}
}

// setClientID handles SET_CLIENT_ID: an id longer than
// Config.MaxClientID is cut there, as gearmand does; an empty one is
// shown as "-". One holding a control character, which would forge lines
// of the admin workers list, is refused with ERROR INVALID_ARGUMENT and
// the connection keeps its id.
func (s *Server) setClientID(c *conn, id []byte) {
	if wire.ValidClientID(id) != nil {
		c.send(wire.Res, wire.Error, errBadArgument[0], []byte(msgBadClientID))
		return
	}
	if len(id) > s.cfg.MaxClientID {
		id = id[:s.cfg.MaxClientID]
	}
	if len(id) == 0 {
		c.clientID = "-"
	} else {
		c.clientID = string(id)
	}
}

// adminCreate handles "create function NAME": the function is kept until
// "drop function", used or not.
func (s *Server) adminCreate(b []byte, name string) []byte {
	if len(name) > s.cfg.MaxFunctionName {
		return append(b, "ERR INVALID_ARGUMENTS Function+name+longer+than+the+server+accepts\r\n"...)
	}
	if wire.ValidFunctionName([]byte(name)) != nil {
		return append(b, "ERR INVALID_ARGUMENTS Function+name+holds+a+space+or+control+character\r\n"...)
	}
	s.fn([]byte(name)).kept = true
	return append(b, "OK\r\n"...)
}
