package moqt

import (
	"context"
	"errors"
	"io"

	"github.com/gomoq/gomoq/moqt/internal/wire"
)

// AcceptAnnounce asks the peer for the broadcasts it announces under prefix
// (in the peer's namespace; "/" for all) and returns a reader of them. The
// stream stays open: later announcements and their ends arrive until the
// reader is closed or the session ends. The request (on moq-lite-05, until
// ANNOUNCE_OK) is bounded by ctx and by Config.SetupTimeout.
func (s *Session) AcceptAnnounce(ctx context.Context, prefix BroadcastPath) (*AnnouncementReader, error) {
	if s.ctx.Err() != nil {
		return nil, s.err()
	}
	p := cleanPath(string(prefix))
	ctx, cancel := context.WithTimeout(ctx, s.config.setupTimeout())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	if s.ietf.v != 0 {
		return s.acceptAnnounceIETF(ctx, p)
	}
	str, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, s.announceErr(err)
	}
	b := wire.AppendVarint(nil, wire.StreamAnnounce)
	req := wire.AnnounceRequest{Prefix: p}
	if s.version >= wire.Lite04 {
		req.ExcludeHop = s.origin
	}
	b = req.Append(b, s.version)
	if _, err := str.Write(b); err != nil {
		resetStream(str, CancelledError)
		return nil, s.announceErr(err)
	}
	r := s.newReader(str)
	var origin uint64
	if s.version >= wire.Lite05 {
		var ok wire.AnnounceOK
		str.SetReadDeadline(deadline(ctx))
		err := readMessage(r, &ok, s.version)
		str.SetReadDeadline(zeroTime)
		if err != nil {
			resetStream(str, CancelledError)
			if isProtocolError(err) && !errors.Is(err, io.ErrUnexpectedEOF) {
				s.protocolViolation("ANNOUNCE_OK", err)
			}
			return nil, s.announceErr(err)
		}
		origin = ok.Origin
	}
	ar := newAnnouncementReader(p, func(error) { resetStream(str, CancelledError) })
	s.goFunc(func() { s.readAnnouncements(ar, r, origin) })
	context.AfterFunc(s.ctx, func() { ar.finish(s.err()) })
	return ar, nil
}

func (s *Session) announceErr(err error) error {
	if s.ctx.Err() != nil {
		return s.err()
	}
	if se := sessionErrorFrom(err); se != nil {
		return se
	}
	if code, remote, ok := s.streamCode(err); ok {
		return &AnnounceError{Code: code, Remote: remote}
	}
	return err
}

func (s *Session) readAnnouncements(ar *AnnouncementReader, r *wire.Reader, origin uint64) {
	for {
		var m wire.Announce
		if err := readMessage(r, &m, s.version); err != nil {
			switch {
			case errors.Is(err, io.EOF):
				ar.finish(io.EOF)
			case isProtocolError(err):
				s.protocolViolation("ANNOUNCE", err)
				ar.finish(s.err())
			default:
				ar.finish(s.announceErr(err))
			}
			return
		}
		path := joinPath(ar.prefix, cleanPath(m.Suffix))
		switch m.Status {
		case 0:
			ar.end(path)
		case 1, 2:
			hops := m.Hops
			if s.version >= wire.Lite05 && origin != 0 {
				hops = append(hops, origin)
			}
			if !ar.add(path, hops, s.config.maxAnnouncements()) {
				s.logger.Warn("moqt: too many announcements on one stream", "limit", s.config.maxAnnouncements())
				s.protocolViolation("too many announcements", nil)
				ar.finish(s.err())
				return
			}
		default:
			s.protocolViolation("ANNOUNCE status", nil)
			ar.finish(s.err())
			return
		}
	}
}
