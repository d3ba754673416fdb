package moqt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gomoq/gomoq/moqt/internal/ietf"
	"github.com/gomoq/gomoq/quic"
)

// This file is the IETF MoQ Transport (drafts 17–20) engine of a Session.
// It reuses the moq-lite engine's TrackReader, TrackWriter, GroupReader and
// announcement machinery, and differs only where the wire does:
//
//   - SETUP: each side opens one unidirectional control stream (type
//     0x2F00, which is also SETUP's message type) and keeps it open for the
//     session; GOAWAY follows on it.
//   - Requests (SUBSCRIBE, SUBSCRIBE_NAMESPACE) each get a bidi stream; the
//     reply (SUBSCRIBE_OK, REQUEST_OK or REQUEST_ERROR) comes on it, then
//     PUBLISH_DONE (subscriptions) or NAMESPACE / NAMESPACE_DONE
//     (namespace subscriptions), then the FIN.
//   - Groups are subgroup-0 streams, found by the Track Alias that the
//     publisher chose in SUBSCRIBE_OK; frames are objects numbered from 0.
//
// Model mapping: a broadcast path's segments are the Track Namespace
// fields; priorities are inverted (IETF: 0 is the most urgent); group order
// 1 (ascending) is Ordered; DELIVERY_TIMEOUT is the latency bound.

// ietfState is what only an IETF session holds. Its fields are guarded by
// Session.mu unless said otherwise.
type ietfState struct {
	v ietf.Version

	extraSetup ietf.KVPs    // options our SETUP adds (PATH, AUTHORITY)
	peerCtrl   *ietf.Reader // the peer's control stream, if the server read it

	ctrlMu    sync.Mutex      // serializes writes of ctrl
	ctrl      quic.SendStream // our control stream, once open
	ctrlReady chan struct{}   // closed once our SETUP was written (or failed)
	peerSetup chan struct{}   // closed once the peer's SETUP was read
	setupOnce sync.Once       // closes peerSetup
	peerOpts  ietf.KVPs       // the peer's Setup Options (after peerSetup)

	nextReqID   uint64 // next Request ID of ours: even on clients, odd on servers
	peerReqIDs  requestIDs
	nextAlias   uint64 // next Track Alias we assign
	pendingSubs int    // our SUBSCRIBEs waiting for SUBSCRIBE_OK
	orphans     []orphanGroup

	// published counts the peer's open PUBLISH_NAMESPACE requests by
	// broadcast path (in the peer's namespace); readers are our
	// AcceptAnnounce readers, which see them besides their own NAMESPACE
	// entries.
	published map[string]int
	readers   map[*AnnouncementReader]struct{}
}

// orphanGroup is a group stream whose Track Alias is not known yet: its
// SUBSCRIBE_OK may still be on its way on the request stream.
type orphanGroup struct {
	g     *GroupReader
	alias uint64
}

// maxOrphanGroups bounds the group streams held while their SUBSCRIBE_OK is
// awaited.
const maxOrphanGroups = 64

// requestIDs remembers which of the peer's Request IDs were used, so that a
// duplicate closes the session with INVALID_REQUEST_ID as the drafts
// require. Requests come on separate streams and may be read out of order:
// every ID below `below` was used, and seen holds those used above it. A
// peer that leaves a gap (a request stream reset before its first message
// was read) would grow seen without bound, so past maxPendingRequestIDs the
// gap is given up: below moves to the smallest ID seen, and an ID from the
// gap arriving after that counts as a duplicate.
type requestIDs struct {
	below uint64
	seen  map[uint64]struct{}
}

const maxPendingRequestIDs = 1024

// use records id; it reports false for an ID of the wrong parity or one
// used before.
func (r *requestIDs) use(id uint64) bool {
	if id%2 != r.below%2 || id < r.below {
		return false
	}
	if _, dup := r.seen[id]; dup {
		return false
	}
	if id == r.below {
		r.below += 2
	} else {
		if r.seen == nil {
			r.seen = make(map[uint64]struct{})
		}
		r.seen[id] = struct{}{}
		if len(r.seen) > maxPendingRequestIDs {
			r.below = min(slices.Min(slices.Collect(maps.Keys(r.seen))), id)
		}
	}
	for {
		if _, ok := r.seen[r.below]; !ok {
			return true
		}
		delete(r.seen, r.below)
		r.below += 2
	}
}

// peerRequest checks the Request ID of a request the peer sent; an invalid
// one closes the session with INVALID_REQUEST_ID.
func (s *Session) peerRequest(what string, id uint64) bool {
	s.mu.Lock()
	ok := s.ietf.peerReqIDs.use(id)
	s.mu.Unlock()
	if !ok {
		s.logger.Warn("moqt: invalid Request ID, closing the session", "what", what, "request_id", id)
		s.closeWith(&SessionError{Code: SessionErrorCode(ietf.SessionInvalidRequestID), Reason: "invalid request ID"}, true)
	}
	return ok
}

// requestViolation ends a request stream that carried something the drafts
// do not allow (a malformed or unknown message, a message out of place) and
// closes the session with PROTOCOL_VIOLATION, as drafts 17-20 require.
func (s *Session) requestViolation(str quic.Stream, what string, err error) {
	resetStream(str, StreamErrorCode(ietf.ResetCancelled))
	s.protocolViolation(what, err)
}

// ietfImplementation is the IMPLEMENTATION Setup Option we send.
const ietfImplementation = "gomoq"

func (s *Session) initIETF(p sessionParams) {
	s.ietf.v = p.ietf
	s.ietf.extraSetup = p.ietfSetup
	s.ietf.peerCtrl = p.peerCtrl
	s.ietf.ctrlReady = make(chan struct{})
	s.ietf.peerSetup = make(chan struct{})
	if p.server {
		s.ietf.nextReqID = 1
	} else {
		s.ietf.peerReqIDs.below = 1 // the server's IDs are odd
	}
	if p.peerIETFSetup != nil {
		s.ietf.peerOpts = p.peerIETFSetup.Options
		s.ietf.setupOnce.Do(func() { close(s.ietf.peerSetup) })
	}
}

func (s *Session) startIETF() {
	s.goFunc(s.sendSetupIETF)
	if r := s.ietf.peerCtrl; r != nil {
		s.goFunc(func() { s.readControlIETF(r) })
	}
}

// sendSetupIETF opens our control stream and writes SETUP. The stream stays
// open until the session ends: @moq/net closes the session when it ends.
func (s *Session) sendSetupIETF() {
	defer close(s.ietf.ctrlReady)
	str, err := s.conn.OpenUniStreamSync(s.ctx)
	if err != nil {
		return
	}
	opts := ietf.KVPs{
		{Type: ietf.OptionImplementation, Bytes: []byte(ietfImplementation)},
		// MoQ Solicit: advertise to us only in answer to our
		// SUBSCRIBE_NAMESPACE, which is how AcceptAnnounce asks.
		{Type: ietf.OptionSolicit, Value: 1},
	}
	opts = append(opts, s.ietf.extraSetup...)
	sortKVPs(opts)
	m := ietf.Setup{Options: opts}
	s.ietf.ctrlMu.Lock()
	s.ietf.ctrl = str
	_, err = str.Write(m.Append(nil, s.ietf.v))
	s.ietf.ctrlMu.Unlock()
	if err != nil {
		return
	}
}

// sortKVPs sorts options by type (the wire delta-codes them).
func sortKVPs(l ietf.KVPs) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].Type < l[j-1].Type; j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// waitPeerSetup waits for the peer's SETUP (clients do before Dial
// returns).
func (s *Session) waitPeerSetup(ctx context.Context) error {
	select {
	case <-s.ietf.peerSetup:
		return nil
	case <-s.ctx.Done():
		return s.err()
	case <-ctx.Done():
		return fmt.Errorf("moqt: no IETF SETUP from the server within the setup timeout: %w", ctx.Err())
	}
}

// readControlIETF follows the peer's control stream after its SETUP: only
// GOAWAY may come.
func (s *Session) readControlIETF(r *ietf.Reader) {
	for {
		typ, payload, err := r.ReadControl()
		if err != nil {
			if isProtocolError(err) {
				s.protocolViolation("control stream", err)
			}
			return
		}
		switch typ {
		case ietf.MsgGoaway:
			var m ietf.Goaway
			if err := m.Parse(payload, s.ietf.v); err != nil {
				s.protocolViolation("parsing GOAWAY", err)
				return
			}
			s.mu.Lock()
			s.peerGoingAway = true
			s.mu.Unlock()
			s.logger.Info("moqt: peer is going away", "uri", m.URI)
		default:
			s.protocolViolation("control stream", fmt.Errorf("unexpected message 0x%x", typ))
			return
		}
	}
}

// goAwayIETF sends GOAWAY on our control stream.
func (s *Session) goAwayIETF(uri string) {
	select {
	case <-s.ietf.ctrlReady:
	case <-s.ctx.Done():
		return
	}
	s.ietf.ctrlMu.Lock()
	defer s.ietf.ctrlMu.Unlock()
	if s.ietf.ctrl == nil {
		return
	}
	m := ietf.Goaway{URI: uri}
	s.ietf.ctrl.SetWriteDeadline(time.Now().Add(time.Second))
	s.ietf.ctrl.Write(m.Append(nil, s.ietf.v))
	s.ietf.ctrl.SetWriteDeadline(zeroTime)
}

func (s *Session) newIETFReader(r io.Reader) *ietf.Reader {
	return ietf.NewReader(r, s.ietf.v, min(s.config.maxMessageSize(), ietf.MaxMessageLen))
}

// handleUniIETF reads the type and header of a peer's unidirectional
// stream: its control stream, or a subgroup stream.
func (s *Session) handleUniIETF(str quic.ReceiveStream, idx uint64) {
	release := func() { s.uni.done(idx, nil) }
	str.SetReadDeadline(time.Now().Add(s.config.streamHeaderTimeout()))
	r := s.newIETFReader(str)
	typ, err := r.ReadVarint()
	if err != nil {
		release()
		s.badUni(str, "stream type", err)
		return
	}
	switch {
	case ietf.IsSubgroupType(typ, s.ietf.v):
		h, err := r.ReadSubgroupHeader(typ)
		if err != nil {
			release()
			s.badUni(str, "subgroup header", err)
			return
		}
		str.SetReadDeadline(zeroTime)
		if h.Mode != ietf.SubgroupZero && h.SubgroupID != 0 {
			// One subgroup per group is all a frame sequence maps to.
			release()
			s.logger.Debug("moqt: refusing a subgroup other than 0", "group", h.GroupID, "subgroup", h.SubgroupID)
			str.CancelRead(quic.StreamErrorCode(ietf.ResetCancelled))
			return
		}
		g := &GroupReader{
			seq:      h.GroupID,
			stream:   str,
			ir:       r,
			iprops:   h.Properties,
			maxFrame: s.config.maxFrameSize(),
		}
		s.uni.done(idx, func() { s.groupArrivedIETF(g, h.TrackAlias) })
	case typ == ietf.MsgSetup:
		body, err := r.ReadControlBody(typ)
		release()
		if err != nil {
			s.protocolViolation("reading SETUP", err)
			return
		}
		var m ietf.Setup
		if err := m.Parse(body, s.ietf.v); err != nil {
			s.protocolViolation("parsing SETUP", err)
			return
		}
		str.SetReadDeadline(zeroTime)
		first := false
		s.ietf.setupOnce.Do(func() {
			first = true
			s.mu.Lock()
			s.ietf.peerOpts = m.Options
			s.mu.Unlock()
			close(s.ietf.peerSetup)
		})
		if !first {
			s.protocolViolation("second SETUP", nil)
			return
		}
		s.readControlIETF(r)
	case typ == ietf.StreamPadding:
		release()
		str.CancelRead(quic.StreamErrorCode(ietf.ResetCancelled))
	default:
		// FETCH_HEADER (we send no FETCH) and unknown types.
		release()
		s.logger.Debug("moqt: unknown uni stream type, resetting it", "type", typ)
		str.CancelRead(s.wireCode(ProtocolViolationStreamError))
	}
}

// groupArrivedIETF hands an incoming group to the subscription whose Track
// Alias it carries. A group for an alias not known yet waits (bounded) while
// a SUBSCRIBE_OK is outstanding. Called in the order the peer opened the
// streams.
func (s *Session) groupArrivedIETF(g *GroupReader, alias uint64) {
	s.mu.Lock()
	tr := s.subscriptions[alias]
	if tr == nil {
		if s.ietf.pendingSubs > 0 && len(s.ietf.orphans) < maxOrphanGroups {
			s.ietf.orphans = append(s.ietf.orphans, orphanGroup{g: g, alias: alias})
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		g.stream.CancelRead(quic.StreamErrorCode(CancelledError))
		return
	}
	s.mu.Unlock()
	g.track = tr
	if !tr.enqueue(g) {
		g.stream.CancelRead(quic.StreamErrorCode(CancelledError))
	}
}

// claimOrphansLocked removes the waiting groups of alias (all of them when
// no SUBSCRIBE_OK is outstanding any more, as nobody will claim them).
func (s *Session) claimOrphansLocked(alias uint64, has bool) (mine, stale []*GroupReader) {
	keep := s.ietf.orphans[:0]
	for _, o := range s.ietf.orphans {
		switch {
		case has && o.alias == alias:
			mine = append(mine, o.g)
		case s.ietf.pendingSubs == 0:
			stale = append(stale, o.g)
		default:
			keep = append(keep, o)
		}
	}
	clear(s.ietf.orphans[len(keep):])
	s.ietf.orphans = keep
	return mine, stale
}

// handleBidiIETF reads the first message of a peer's request stream and
// serves the request.
func (s *Session) handleBidiIETF(str quic.Stream) {
	r := s.newIETFReader(str)
	str.SetReadDeadline(time.Now().Add(s.config.streamHeaderTimeout()))
	typ, payload, err := r.ReadControl()
	str.SetReadDeadline(zeroTime)
	if err != nil {
		switch {
		case isProtocolError(err):
			// A length that does not match the body, a truncated or
			// oversized message.
			s.requestViolation(str, "request stream", err)
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.logger.Warn("moqt: no request on a request stream in time, resetting it", "stream", str.StreamID())
			resetStream(str, StreamErrorCode(ietf.ResetCancelled))
		default:
			resetStream(str, CancelledError)
		}
		return
	}
	v := s.ietf.v
	switch typ {
	case ietf.MsgSubscribe:
		var m ietf.Subscribe
		if err := m.Parse(payload, v); err != nil {
			s.requestViolation(str, "parsing SUBSCRIBE", err)
			return
		}
		if s.peerRequest("SUBSCRIBE", m.RequestID) {
			s.serveSubscribeIETF(str, r, &m)
		}
	case ietf.SubscribeNamespaceType(v):
		var m ietf.SubscribeNamespace
		if err := m.Parse(payload, v); err != nil {
			s.requestViolation(str, "parsing SUBSCRIBE_NAMESPACE", err)
			return
		}
		if s.peerRequest("SUBSCRIBE_NAMESPACE", m.RequestID) {
			s.serveSubscribeNamespace(str, r, &m)
		}
	case ietf.MsgPublishNamespace:
		var m ietf.PublishNamespace
		if err := m.Parse(payload, v); err != nil {
			s.requestViolation(str, "parsing PUBLISH_NAMESPACE", err)
			return
		}
		if s.peerRequest("PUBLISH_NAMESPACE", m.RequestID) {
			s.servePublishNamespace(str, r, &m)
		}
	case ietf.MsgTrackStatus:
		var m ietf.TrackStatus
		if err := m.Parse(payload, v); err != nil {
			s.requestViolation(str, "parsing TRACK_STATUS", err)
			return
		}
		if s.peerRequest("TRACK_STATUS", m.RequestID) {
			s.serveTrackStatus(str, &m)
		}
	case ietf.MsgPublish, ietf.MsgFetch, ietf.MsgSubscribeTracks:
		// We serve live tracks by SUBSCRIBE only, as moq-relay does: no
		// pushed tracks (PUBLISH), no past objects (FETCH). (Their Request
		// IDs are not parsed: the gap they leave is tolerated.)
		s.logger.Debug("moqt: refusing an IETF request we do not serve", "type", fmt.Sprintf("0x%x", typ))
		s.requestError(str, ietf.RequestNotSupported, "not supported")
	default:
		// A response type, a control-stream message or an unknown type
		// opening a request stream.
		s.requestViolation(str, "request stream", fmt.Errorf("message type 0x%x cannot open a request", typ))
	}
}

// requestError answers a request with REQUEST_ERROR and ends the stream.
func (s *Session) requestError(str quic.Stream, code ietf.RequestErrorCode, reason string) {
	m := ietf.RequestError{Code: uint64(code), Reason: reason}
	str.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := str.Write(m.Append(nil, s.ietf.v)); err == nil {
		str.Close()
	}
	str.CancelRead(quic.StreamErrorCode(CancelledError))
}

// requestCode maps our error codes to REQUEST_ERROR codes.
func requestCode(c StreamErrorCode) ietf.RequestErrorCode {
	switch c {
	case NotFoundError:
		return ietf.RequestDoesNotExist
	case UnauthorizedError:
		return ietf.RequestUnauthorized
	case GoingAwayError:
		return ietf.RequestGoingAway
	case TooManyError:
		return ietf.RequestExcessiveLoad
	}
	return ietf.RequestInternalError
}

// streamCodeOf maps a REQUEST_ERROR code to ours. @moq/net answers an
// unknown broadcast with 404, an HTTP status, rather than DOES_NOT_EXIST.
func streamCodeOf(c uint64) StreamErrorCode {
	switch ietf.RequestErrorCode(c) {
	case ietf.RequestDoesNotExist:
		return NotFoundError
	case ietf.RequestUnauthorized:
		return UnauthorizedError
	case ietf.RequestGoingAway:
		return GoingAwayError
	case ietf.RequestExcessiveLoad:
		return TooManyError
	}
	switch c {
	case 404:
		return NotFoundError
	case 401, 403:
		return UnauthorizedError
	}
	return InternalStreamError
}

// pathNamespace maps a clean broadcast path to a Track Namespace: one
// field per segment.
func pathNamespace(p string) ietf.Namespace {
	if p == "" {
		return ietf.Namespace{}
	}
	return ietf.Namespace(strings.Split(p, "/"))
}

// namespacePath maps a Track Namespace to a clean broadcast path; ok is
// false for a field that cannot be a path segment.
func namespacePath(ns ietf.Namespace) (string, bool) {
	for _, f := range ns {
		if f == "" || f == "." || f == ".." || strings.Contains(f, "/") {
			return "", false
		}
	}
	return strings.Join(ns, "/"), true
}

// subscribeParams builds the Message Parameters of a SUBSCRIBE or
// REQUEST_UPDATE for config.
func subscribeParams(config *TrackConfig, v ietf.Version) ietf.Params {
	var ps ietf.Params
	if config.MaxLatency > 0 {
		ps = append(ps, ietf.Param{Type: ietf.ParamDeliveryTimeout, Value: uint64(config.MaxLatency / time.Millisecond)})
	}
	ps = append(ps, ietf.Param{Type: ietf.ParamForward, Value: 1})
	ps = append(ps, ietf.Param{Type: ietf.ParamSubscriberPriority, Value: uint64(0xff - config.Priority)})
	if f, ok := locationFilter(config, v); ok {
		ps = append(ps, ietf.Param{Type: ietf.ParamSubscriptionFilter, Bytes: f.Append(nil, v)})
	}
	order := uint64(2) // descending: newest first
	if config.Ordered {
		order = 1
	}
	ps = append(ps, ietf.Param{Type: ietf.ParamGroupOrder, Value: order})
	return ps
}

// locationFilter is the absolute filter of config's StartGroup and
// EndGroup; ok is false when it sets neither (the publisher starts at the
// latest group, with the whole group).
func locationFilter(config *TrackConfig, v ietf.Version) (ietf.LocationFilter, bool) {
	var f ietf.LocationFilter
	if config.StartGroup == nil && config.EndGroup == nil {
		return f, false
	}
	if config.StartGroup != nil {
		f.Start.Group = *config.StartGroup
	}
	if config.EndGroup != nil {
		f.Kind = ietf.FilterAbsoluteRange
		f.EndGroup = max(*config.EndGroup, f.Start.Group)
	} else if f.Start.Group == 0 && v >= ietf.Draft20 {
		f.Kind = ietf.FilterNone // draft 20's spelling of {0, 0}, open ended
	} else {
		f.Kind = ietf.FilterAbsoluteStart
	}
	return f, true
}

// configFromParams reads what a SUBSCRIBE or REQUEST_UPDATE asks for. Of
// the location filters only the absolute ones (and draft 20's empty one)
// set a start or end group; the others, @moq/net's "largest object" and
// "current group" joins among them, start at the latest group, which is
// sent whole (a late joiner gets the current group from object 0).
func configFromParams(ps ietf.Params, base TrackConfig, v ietf.Version) TrackConfig {
	c := base
	if p, ok := ps.Get(ietf.ParamSubscriptionFilter); ok {
		var f ietf.LocationFilter
		if f.Parse(p.Bytes, v) == nil {
			switch f.Kind {
			case ietf.FilterNone:
				if v >= ietf.Draft20 {
					start := uint64(0)
					c.StartGroup = &start
				}
			case ietf.FilterAbsoluteStart:
				start := f.Start.Group
				c.StartGroup = &start
			case ietf.FilterAbsoluteRange:
				start, end := f.Start.Group, f.EndGroup
				c.StartGroup, c.EndGroup = &start, &end
			}
		}
	}
	if p, ok := ps.Get(ietf.ParamSubscriberPriority); ok {
		c.Priority = 0xff - uint8(p.Value)
	}
	if p, ok := ps.Get(ietf.ParamGroupOrder); ok {
		c.Ordered = p.Value == 1
	}
	if p, ok := ps.Get(ietf.ParamDeliveryTimeout); ok {
		c.MaxLatency = time.Duration(p.Value) * time.Millisecond
	}
	return c
}

// subscribeIETF is Subscribe on an IETF session.
func (s *Session) subscribeIETF(ctx context.Context, broadcast, name string, config *TrackConfig) (*TrackReader, error) {
	v := s.ietf.v
	ns := pathNamespace(broadcast)
	if err := ns.Validate(); err != nil {
		return nil, fmt.Errorf("moqt: broadcast path %q is not an IETF namespace: %w", broadcast, err)
	}
	str, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, s.ctxErr(ctx, s.openErr(err))
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		resetStream(str, CancelledError)
		return nil, s.err()
	}
	reqID := s.ietf.nextReqID
	s.ietf.nextReqID += 2
	s.ietf.pendingSubs++
	s.mu.Unlock()
	pending := true
	done := func() {
		if !pending {
			return
		}
		pending = false
		s.mu.Lock()
		s.ietf.pendingSubs--
		_, stale := s.claimOrphansLocked(0, false)
		s.mu.Unlock()
		for _, g := range stale {
			g.stream.CancelRead(quic.StreamErrorCode(CancelledError))
		}
	}
	defer done()
	tr := &TrackReader{
		sess:    s,
		path:    broadcast,
		name:    name,
		stream:  str,
		ordered: config.Ordered,
		latency: config.MaxLatency,
		notify:  make(chan struct{}, 1),
		wsem:    make(chan struct{}, 1),
		arrival: make(chan struct{}, 1),
	}
	m := ietf.Subscribe{RequestID: reqID, Namespace: ns, Track: name, Params: subscribeParams(config, v)}
	str.SetWriteDeadline(deadline(ctx))
	_, err = str.Write(m.Append(nil, v))
	str.SetWriteDeadline(zeroTime)
	if err != nil {
		resetStream(str, CancelledError)
		return nil, s.ctxErr(ctx, s.openErr(err))
	}
	r := s.newIETFReader(str)
	str.SetReadDeadline(deadline(ctx))
	typ, payload, err := r.ReadControl()
	str.SetReadDeadline(zeroTime)
	if err != nil {
		resetStream(str, CancelledError)
		if isProtocolError(err) && !errors.Is(err, io.ErrUnexpectedEOF) {
			s.protocolViolation("SUBSCRIBE response", err)
			return nil, s.err()
		}
		return nil, s.ctxErr(ctx, s.openErr(err))
	}
	switch typ {
	case ietf.MsgSubscribeOK:
	case ietf.MsgRequestError:
		var e ietf.RequestError
		if err := e.Parse(payload, v); err != nil {
			resetStream(str, CancelledError)
			s.protocolViolation("REQUEST_ERROR", err)
			return nil, s.err()
		}
		str.CancelRead(quic.StreamErrorCode(CancelledError))
		str.Close()
		return nil, &SubscribeError{Code: streamCodeOf(e.Code), Remote: true}
	default:
		resetStream(str, CancelledError)
		s.protocolViolation("SUBSCRIBE response", fmt.Errorf("message 0x%x, want SUBSCRIBE_OK or REQUEST_ERROR", typ))
		return nil, s.err()
	}
	var ok ietf.SubscribeOK
	if err := ok.Parse(payload, v); err != nil {
		resetStream(str, CancelledError)
		s.protocolViolation("SUBSCRIBE_OK", err)
		return nil, s.err()
	}
	tr.info = trackInfoFromOK(&ok, config)
	tr.id = ok.TrackAlias
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		resetStream(str, CancelledError)
		return nil, s.err()
	}
	if s.subscriptions[ok.TrackAlias] != nil {
		s.mu.Unlock()
		resetStream(str, CancelledError)
		s.closeWith(&SessionError{Code: SessionErrorCode(ietf.SessionDuplicateTrackAlias), Reason: "duplicate track alias"}, true)
		return nil, s.err()
	}
	s.subscriptions[ok.TrackAlias] = tr
	pending = false
	s.ietf.pendingSubs--
	mine, stale := s.claimOrphansLocked(ok.TrackAlias, true)
	s.mu.Unlock()
	for _, g := range stale {
		g.stream.CancelRead(quic.StreamErrorCode(CancelledError))
	}
	for _, g := range mine {
		g.track = tr
		if !tr.enqueue(g) {
			g.stream.CancelRead(quic.StreamErrorCode(CancelledError))
		}
	}
	s.goFunc(func() { tr.readResponsesIETF(r) })
	return tr, nil
}

// trackInfoFromOK reads the track's properties from SUBSCRIBE_OK.
func trackInfoFromOK(ok *ietf.SubscribeOK, config *TrackConfig) TrackInfo {
	return trackInfoFromProperties(ok.Properties, config.Ordered)
}

// trackInfoFromProperties reads a track's Track Properties; ordered is the
// order to assume when they give none.
func trackInfoFromProperties(props ietf.KVPs, ordered bool) TrackInfo {
	info := TrackInfo{Ordered: ordered}
	if p, found := props.Get(propTimescale); found && p.Value > 0 {
		info.Timescale = p.Value
	}
	if p, found := props.Get(ietf.ParamGroupOrder); found {
		info.Ordered = p.Value == 1
	}
	if p, found := props.Get(propDeliveryTimeout); found {
		info.MaxLatency = time.Duration(p.Value) * time.Millisecond
	}
	return info
}

// Track and object property types we read and write.
const (
	propDeliveryTimeout uint64 = 0x02 // DELIVERY_TIMEOUT (OBJECT_DELIVERY_TIMEOUT on 18+) track property, ms
	propTimescale       uint64 = 0x08 // TIMESCALE track property (ticks per second)
	propTimestamp       uint64 = 0x10 // Timestamp object property, in the track's timescale
)

// peerReadsPublishDone reports whether the track end may carry
// PUBLISH_DONE before the FIN. @moq/net ("moq-lite-js" in its SETUP's
// IMPLEMENTATION option) never reads its subscription streams after
// SUBSCRIBE_OK, and a browser's receive stream reports its FIN only once
// the bytes before it were read: with PUBLISH_DONE unread it would never
// see the end of the track. It gets the FIN alone.
func (s *Session) peerReadsPublishDone() bool {
	s.mu.Lock()
	opts := s.ietf.peerOpts
	s.mu.Unlock()
	if p, ok := opts.Get(ietf.OptionImplementation); ok && string(p.Bytes) == "moq-lite-js" {
		return false
	}
	return true
}

// readResponsesIETF follows the publisher's side of a subscription stream:
// PUBLISH_DONE, then the FIN.
func (r *TrackReader) readResponsesIETF(rd *ietf.Reader) {
	s := r.sess
	var done *ietf.PublishDone
	for {
		typ, payload, err := rd.ReadControl()
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.publisherFinishedIETF(done)
				return
			}
			if s.ctx.Err() != nil {
				r.finish(s.err())
				return
			}
			if code, remote, ok := s.streamCode(err); ok {
				r.finish(&SubscribeError{Code: code, Remote: remote})
				return
			}
			if isProtocolError(err) {
				s.protocolViolation("subscribe response", err)
			}
			r.finish(err)
			return
		}
		switch typ {
		case ietf.MsgPublishDone:
			var m ietf.PublishDone
			if err := m.Parse(payload, s.ietf.v); err != nil {
				s.protocolViolation("PUBLISH_DONE", err)
				r.finish(s.err())
				return
			}
			done = &m
		case ietf.MsgRequestOK, ietf.MsgRequestError:
			// The answer to a REQUEST_UPDATE.
		default:
			s.protocolViolation("subscribe response", fmt.Errorf("unexpected message 0x%x", typ))
			r.finish(s.err())
			return
		}
	}
}

// publisherFinishedIETF ends the track after the publisher's FIN. With a
// PUBLISH_DONE whose Stream Count is set (our publishers send it), the track
// ends once that many group streams arrived; @moq/net sends 0, and then, as
// on moq-lite-03/04, the group streams opened before the FIN are passed on
// and the track ends Config.LegacyEndGrace later. A PUBLISH_DONE with an
// error status ends it with a *SubscribeError.
func (r *TrackReader) publisherFinishedIETF(done *ietf.PublishDone) {
	s := r.sess
	s.uni.barrier(s.ctx)
	if done != nil {
		switch ietf.PublishDoneCodeOf(done.StatusCode, s.ietf.v) {
		case ietf.DoneTrackEnded, ietf.DoneSubscriptionEnded, ietf.DoneGoingAway:
		default:
			r.finish(&SubscribeError{Code: InternalStreamError, Remote: true})
			return
		}
	}
	t := time.NewTimer(s.config.legacyEndGrace())
	defer t.Stop()
	for {
		r.mu.Lock()
		complete := done != nil && done.StreamCount > 0 && r.stats.Received >= done.StreamCount
		r.mu.Unlock()
		if complete {
			break
		}
		select {
		case <-r.arrival:
			continue
		case <-t.C:
		case <-s.ctx.Done():
		case <-r.notifyEnd():
		}
		break
	}
	r.mu.Lock()
	r.finished = true
	r.checkEndLocked()
	r.mu.Unlock()
	r.maybeCloseSide()
}

// updateIETF sends REQUEST_UPDATE for a subscription.
func (r *TrackReader) updateIETF(config *TrackConfig) []byte {
	s := r.sess
	s.mu.Lock()
	id := s.ietf.nextReqID
	s.ietf.nextReqID += 2
	s.mu.Unlock()
	m := ietf.RequestUpdate{RequestID: id, Params: subscribeParams(config, s.ietf.v)}
	return m.Append(nil, s.ietf.v)
}

// serveSubscribeIETF serves one SUBSCRIBE of the peer with the mux, as
// serveSubscribe does for moq-lite.
func (s *Session) serveSubscribeIETF(str quic.Stream, r *ietf.Reader, req *ietf.Subscribe) {
	v := s.ietf.v
	s.mu.Lock()
	if s.goingAway {
		s.mu.Unlock()
		s.requestError(str, ietf.RequestGoingAway, "going away")
		return
	}
	if s.served >= s.config.maxSubscriptions() {
		s.mu.Unlock()
		s.logger.Warn("moqt: too many subscriptions, refusing one", "limit", s.config.maxSubscriptions())
		s.requestError(str, ietf.RequestExcessiveLoad, "too many subscriptions")
		return
	}
	s.served++
	alias := s.ietf.nextAlias
	s.ietf.nextAlias++
	s.mu.Unlock()
	defer s.subscriptionServed()

	path, info, ok := s.resolveTrack(str, "subscription", req.Namespace, req.Track)
	if !ok {
		return
	}
	config := configFromParams(req.Params, TrackConfig{Priority: 128, Ordered: info.Ordered}, v)
	tw := newTrackWriter(s, alias, path, req.Track, str, info, config)
	defer tw.cancel(ErrClosedTrack)
	ok2 := ietf.SubscribeOK{TrackAlias: alias, Properties: s.trackProperties(info)}
	if _, err := str.Write(ok2.Append(nil, v)); err != nil {
		return
	}
	peerDone := make(chan struct{})
	s.goFunc(func() {
		defer close(peerDone)
		for {
			typ, payload, err := r.ReadControl()
			if err != nil {
				if isProtocolError(err) {
					s.protocolViolation("subscription stream", err)
				}
				tw.cancel(&SubscribeError{Code: CancelledError, Remote: true})
				return
			}
			if typ != ietf.MsgRequestUpdate {
				s.protocolViolation("subscription stream", fmt.Errorf("unexpected message 0x%x", typ))
				tw.cancel(&SubscribeError{Code: ProtocolViolationStreamError, Remote: true})
				return
			}
			var u ietf.RequestUpdate
			if err := u.Parse(payload, v); err != nil {
				s.protocolViolation("parsing REQUEST_UPDATE", err)
				tw.cancel(&SubscribeError{Code: ProtocolViolationStreamError, Remote: true})
				return
			}
			if !s.peerRequest("REQUEST_UPDATE", u.RequestID) {
				tw.cancel(&SubscribeError{Code: CancelledError, Remote: true})
				return
			}
			tw.setConfig(configFromParams(u.Params, tw.Config(), v))
			tw.updateApplied()
		}
	})
	s.serveTrackWriter(tw, str, peerDone)
}

// trackProperties are the Track Properties that describe a track in
// SUBSCRIBE_OK and TRACK_STATUS_OK: its timescale, group order and latency
// bound.
func (s *Session) trackProperties(info TrackInfo) ietf.KVPs {
	order := uint64(2)
	if info.Ordered {
		order = 1
	}
	props := ietf.KVPs{
		{Type: propTimescale, Value: info.timescale()},
		{Type: ietf.ParamGroupOrder, Value: order},
	}
	if ms := uint64(s.advertisedLatency(info) / time.Millisecond); ms > 0 {
		// The latency bound as the track's delivery timeout (the
		// DELIVERY_TIMEOUT track property, OBJECT_DELIVERY_TIMEOUT on 18+).
		props = append(props, ietf.KVP{Type: propDeliveryTimeout, Value: ms})
	}
	sortKVPs(props)
	return props
}

// resolveTrack turns a request's namespace and track into the broadcast
// path and the TrackMux's TrackInfo, or answers the request with
// REQUEST_ERROR (DOES_NOT_EXIST, UNAUTHORIZED, or the mux's refusal) and
// returns false; what names the request in the log.
func (s *Session) resolveTrack(str quic.Stream, what string, ns ietf.Namespace, track string) (string, TrackInfo, bool) {
	sub, ok := namespacePath(ns)
	if !ok {
		s.requestError(str, ietf.RequestDoesNotExist, "not a broadcast path")
		return "", TrackInfo{}, false
	}
	path := joinPath(s.root, cleanPath(sub))
	if !s.maySubscribe(path) {
		s.logger.Info("moqt: refusing a "+what+" the session may not make", "broadcast", path, "track", track)
		s.requestError(str, ietf.RequestUnauthorized, "unauthorized")
		return "", TrackInfo{}, false
	}
	info, err := s.trackInfo(path, track)
	if err != nil {
		s.logger.Debug("moqt: refusing a "+what, "broadcast", path, "track", track, "error", err)
		s.requestError(str, requestCode(errCode(err)), "track refused")
		return "", TrackInfo{}, false
	}
	return path, info, true
}

// serveTrackStatus answers TRACK_STATUS as it would a SUBSCRIBE, without
// the subscription: TRACK_STATUS_OK (a REQUEST_OK) with the Track
// Properties SUBSCRIBE_OK would carry, from the mux's TrackInfo (what
// moq-lite-05's TRACK asks; through the relay, the upstream track's), or
// REQUEST_ERROR. Draft 17's REQUEST_OK has no Track Properties, so there it
// only says that the track exists. No LARGEST_OBJECT is given, as in
// SUBSCRIBE_OK: a subscription starts at the latest group.
func (s *Session) serveTrackStatus(str quic.Stream, req *ietf.TrackStatus) {
	v := s.ietf.v
	s.mu.Lock()
	going := s.goingAway
	s.mu.Unlock()
	if going {
		s.requestError(str, ietf.RequestGoingAway, "going away")
		return
	}
	_, info, ok := s.resolveTrack(str, "track status request", req.Namespace, req.Track)
	if !ok {
		return
	}
	var m ietf.RequestOK
	if v >= ietf.Draft18 {
		m.Properties = s.trackProperties(info)
	}
	str.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := str.Write(m.Append(nil, v)); err == nil {
		str.Close()
	}
	str.CancelRead(quic.StreamErrorCode(CancelledError))
}

// trackInfoIETF asks for a track's properties with TRACK_STATUS.
func (s *Session) trackInfoIETF(ctx context.Context, broadcast, track string) (TrackInfo, error) {
	v := s.ietf.v
	ns := pathNamespace(broadcast)
	if err := ns.Validate(); err != nil {
		return TrackInfo{}, fmt.Errorf("moqt: broadcast path %q is not an IETF namespace: %w", broadcast, err)
	}
	str, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		return TrackInfo{}, s.ctxErr(ctx, s.openErr(err))
	}
	defer str.CancelRead(quic.StreamErrorCode(CancelledError))
	s.mu.Lock()
	reqID := s.ietf.nextReqID
	s.ietf.nextReqID += 2
	s.mu.Unlock()
	m := ietf.TrackStatus{RequestID: reqID, Namespace: ns, Track: track}
	str.SetWriteDeadline(deadline(ctx))
	if _, err := str.Write(m.Append(nil, v)); err != nil {
		resetStream(str, CancelledError)
		return TrackInfo{}, s.ctxErr(ctx, s.openErr(err))
	}
	str.Close()
	str.SetReadDeadline(deadline(ctx))
	typ, payload, err := s.newIETFReader(str).ReadControl()
	if err != nil {
		if isProtocolError(err) && !errors.Is(err, io.ErrUnexpectedEOF) {
			s.protocolViolation("TRACK_STATUS response", err)
			return TrackInfo{}, s.err()
		}
		return TrackInfo{}, s.ctxErr(ctx, s.openErr(err))
	}
	switch typ {
	case ietf.MsgRequestOK:
		var ok ietf.RequestOK
		if err := ok.Parse(payload, v); err != nil {
			s.protocolViolation("TRACK_STATUS_OK", err)
			return TrackInfo{}, s.err()
		}
		return trackInfoFromProperties(ok.Properties, false), nil
	case ietf.MsgRequestError:
		var e ietf.RequestError
		if err := e.Parse(payload, v); err != nil {
			s.protocolViolation("REQUEST_ERROR", err)
			return TrackInfo{}, s.err()
		}
		return TrackInfo{}, &SubscribeError{Code: streamCodeOf(e.Code), Remote: true}
	}
	s.protocolViolation("TRACK_STATUS response", fmt.Errorf("message 0x%x, want REQUEST_OK or REQUEST_ERROR", typ))
	return TrackInfo{}, s.err()
}

// appendIETFGroupHeader appends the subgroup header of group seq.
func appendIETFGroupHeader(b []byte, v ietf.Version, alias, seq uint64, prio uint8) []byte {
	h := ietf.SubgroupHeader{
		Properties:  true, // every object carries its Timestamp
		Mode:        ietf.SubgroupZero,
		EndOfGroup:  true,
		FirstObject: v >= ietf.Draft18, // @moq/net drops streams without it on 18+
		TrackAlias:  alias,
		GroupID:     seq,
		Priority:    0xff - prio,
	}
	return h.Append(b, v)
}

// appendIETFObjectHeader appends the fields of an object before its
// payload: objects are numbered from 0 and consecutive (delta 0), each
// carries the frame's timestamp as a Timestamp property (0x10, in the
// track's timescale, which SUBSCRIBE_OK gives as TIMESCALE), and an empty
// payload carries status Normal.
func appendIETFObjectHeader(b []byte, n int, ts uint64) []byte {
	b = ietf.AppendVarint(b, 0)
	// Properties: Length, then one Key-Value-Pair (type delta from 0).
	b = ietf.AppendVarint(b, uint64(ietf.VarintLen(propTimestamp)+ietf.VarintLen(ts)))
	b = ietf.AppendVarint(b, propTimestamp)
	b = ietf.AppendVarint(b, ts)
	b = ietf.AppendVarint(b, uint64(n))
	if n == 0 {
		b = ietf.AppendVarint(b, ietf.StatusNormal)
	}
	return b
}

// readFrameIETF reads the next object of an IETF group as a frame.
func (g *GroupReader) readFrameIETF() (*Frame, error) {
	for {
		o, err := g.ir.ReadSubgroupObject(g.iprops, g.maxFrame)
		if err != nil {
			if errors.Is(err, ietf.ErrTooLarge) {
				g.track.sess.logger.Warn("moqt: object over the size limit, resetting its group",
					"stream", g.stream.StreamID(), "broadcast", g.track.path, "track", g.track.name, "group", g.seq, "limit", g.maxFrame)
				g.CancelRead(FrameTooLargeError)
				return nil, &GroupError{Code: FrameTooLargeError}
			}
			g.track.groupDone(g)
			return nil, g.readErr(err)
		}
		if len(o.Payload) == 0 && o.Status != ietf.StatusNormal {
			if o.Status == ietf.StatusEndOfGroup || o.Status == ietf.StatusEndOfTrack {
				continue // the FIN follows
			}
			continue // other statuses carry no frame
		}
		f := &Frame{Payload: o.Payload}
		if len(o.Properties) > 0 {
			if kv, err := ietf.ParseKVPs(o.Properties, g.track.sess.ietf.v); err == nil {
				if p, ok := kv.Get(propTimestamp); ok {
					f.Timestamp = p.Value
				}
			}
		}
		return f, nil
	}
}

// serveSubscribeNamespace answers a peer's SUBSCRIBE_NAMESPACE with
// REQUEST_OK and then a NAMESPACE (or NAMESPACE_DONE) for each of the mux's
// broadcasts under the prefix, as they come and go.
func (s *Session) serveSubscribeNamespace(str quic.Stream, r *ietf.Reader, req *ietf.SubscribeNamespace) {
	v := s.ietf.v
	prefix, ok := namespacePath(req.Prefix)
	if !ok {
		s.requestError(str, ietf.RequestDoesNotExist, "not a broadcast path")
		return
	}
	s.runAnnounce(str, r, announceSpec{
		prefix: cleanPath(prefix),
		refuse: func(code StreamErrorCode) {
			s.requestError(str, requestCode(code), code.String())
		},
		hello: func(int) []byte {
			ok := ietf.RequestOK{}
			return ok.Append(nil, v)
		},
		entry: func(b []byte, suffix string, active bool, _ []uint64) []byte {
			if active {
				m := ietf.NamespaceEntry{Suffix: pathNamespace(suffix)}
				return m.Append(b, v)
			}
			m := ietf.NamespaceDone{Suffix: pathNamespace(suffix)}
			return m.Append(b, v)
		},
	})
}

// acceptAnnounceIETF is AcceptAnnounce on an IETF session: a
// SUBSCRIBE_NAMESPACE request.
func (s *Session) acceptAnnounceIETF(ctx context.Context, p string) (*AnnouncementReader, error) {
	v := s.ietf.v
	str, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, s.announceErr(err)
	}
	s.mu.Lock()
	reqID := s.ietf.nextReqID
	s.ietf.nextReqID += 2
	s.mu.Unlock()
	m := ietf.SubscribeNamespace{RequestID: reqID, Prefix: pathNamespace(p), SubscribeOptions: ietf.SubscribeOptionNamespace}
	str.SetWriteDeadline(deadline(ctx))
	_, err = str.Write(m.Append(nil, v))
	str.SetWriteDeadline(zeroTime)
	if err != nil {
		resetStream(str, CancelledError)
		return nil, s.announceErr(err)
	}
	r := s.newIETFReader(str)
	str.SetReadDeadline(deadline(ctx))
	typ, payload, err := r.ReadControl()
	str.SetReadDeadline(zeroTime)
	if err != nil {
		resetStream(str, CancelledError)
		if isProtocolError(err) && !errors.Is(err, io.ErrUnexpectedEOF) {
			s.protocolViolation("SUBSCRIBE_NAMESPACE response", err)
			return nil, s.err()
		}
		return nil, s.announceErr(err)
	}
	switch typ {
	case ietf.MsgRequestOK:
		var ok ietf.RequestOK
		if err := ok.Parse(payload, v); err != nil {
			resetStream(str, CancelledError)
			s.protocolViolation("REQUEST_OK", err)
			return nil, s.err()
		}
	case ietf.MsgRequestError:
		var e ietf.RequestError
		if err := e.Parse(payload, v); err != nil {
			resetStream(str, CancelledError)
			s.protocolViolation("REQUEST_ERROR", err)
			return nil, s.err()
		}
		resetStream(str, CancelledError)
		if ietf.RequestErrorCode(e.Code) == ietf.RequestNotSupported {
			// A peer that only advertises with PUBLISH_NAMESPACE: the
			// reader gets those, until it is closed or the session ends.
			var ar *AnnouncementReader
			ar = newAnnouncementReader(p, func(error) { s.unregisterReader(ar) })
			s.registerReader(ar)
			context.AfterFunc(s.ctx, func() { ar.finish(s.err()) })
			return ar, nil
		}
		return nil, &AnnounceError{Code: streamCodeOf(e.Code), Remote: true}
	default:
		resetStream(str, CancelledError)
		s.protocolViolation("SUBSCRIBE_NAMESPACE response", fmt.Errorf("message 0x%x", typ))
		return nil, s.err()
	}
	ar := newAnnouncementReader(p, func(error) { resetStream(str, CancelledError) })
	// The peer's unsolicited PUBLISH_NAMESPACEs reach the reader too.
	s.registerReader(ar)
	s.goFunc(func() {
		s.readNamespacesIETF(ar, r)
		s.unregisterReader(ar)
	})
	context.AfterFunc(s.ctx, func() { ar.finish(s.err()) })
	return ar, nil
}

// readNamespacesIETF feeds NAMESPACE and NAMESPACE_DONE to ar.
func (s *Session) readNamespacesIETF(ar *AnnouncementReader, r *ietf.Reader) {
	v := s.ietf.v
	for {
		typ, payload, err := r.ReadControl()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				ar.finish(io.EOF)
			case isProtocolError(err):
				s.protocolViolation("NAMESPACE", err)
				ar.finish(s.err())
			default:
				ar.finish(s.announceErr(err))
			}
			return
		}
		var suffix ietf.Namespace
		active := false
		switch typ {
		case ietf.MsgNamespace:
			var m ietf.NamespaceEntry
			err = m.Parse(payload, v)
			suffix, active = m.Suffix, true
		case ietf.MsgNamespaceDone:
			var m ietf.NamespaceDone
			err = m.Parse(payload, v)
			suffix = m.Suffix
		case ietf.MsgPublishBlocked:
			continue
		default:
			err = fmt.Errorf("unexpected message 0x%x", typ)
		}
		if err != nil {
			s.protocolViolation("NAMESPACE", err)
			ar.finish(s.err())
			return
		}
		sp, ok := namespacePath(suffix)
		if !ok {
			continue // not a broadcast path of ours
		}
		path := joinPath(ar.prefix, sp)
		if !active {
			ar.end(path)
			continue
		}
		if !ar.add(path, nil, s.config.maxAnnouncements()) {
			s.logger.Warn("moqt: too many announcements on one stream", "limit", s.config.maxAnnouncements())
			s.protocolViolation("too many announcements", nil)
			ar.finish(s.err())
			return
		}
	}
}

// readClientSetupIETF reads the client's SETUP on native QUIC, which must
// arrive on its first unidirectional stream within the setup timeout, and
// takes the request's path from its PATH option.
func (s *Server) readClientSetupIETF(conn quic.Connection, v ietf.Version, req *SetupRequest) error {
	ctx, cancel := context.WithTimeout(conn.Context(), s.Config.setupTimeout())
	defer cancel()
	str, err := conn.AcceptUniStream(ctx)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("moqt: no SETUP within %v: %w", s.Config.setupTimeout(), context.DeadlineExceeded)
		}
		return err
	}
	str.SetReadDeadline(time.Now().Add(s.Config.setupTimeout()))
	r := ietf.NewReader(str, v, min(s.Config.maxMessageSize(), ietf.MaxMessageLen))
	typ, err := r.ReadVarint()
	if err != nil {
		return fmt.Errorf("moqt: reading SETUP: %w", err)
	}
	if typ != ietf.MsgSetup {
		return fmt.Errorf("moqt: first unidirectional stream has type 0x%x, want SETUP", typ)
	}
	body, err := r.ReadControlBody(typ)
	if err != nil {
		return fmt.Errorf("moqt: reading SETUP: %w", err)
	}
	var m ietf.Setup
	if err := m.Parse(body, v); err != nil {
		return fmt.Errorf("moqt: parsing SETUP: %w", err)
	}
	str.SetReadDeadline(zeroTime)
	if p, ok := m.Options.Get(ietf.OptionPath); ok {
		u, err := url.Parse("/" + strings.TrimPrefix(string(p.Bytes), "/"))
		if err != nil {
			return fmt.Errorf("moqt: bad SETUP PATH %q: %w", p.Bytes, err)
		}
		req.URL = u
		req.Path = u.Path
	}
	req.ietfSetup = &m
	req.peerCtrl = r
	return nil
}

// servePublishNamespace accepts a peer's unsolicited PUBLISH_NAMESPACE
// (peers that do not know MoQ Solicit send them): REQUEST_OK, then the
// broadcast is announced to our AcceptAnnounce readers whose prefix holds
// it until the peer closes the request stream (draft 17+ has no
// PUBLISH_NAMESPACE_DONE).
func (s *Session) servePublishNamespace(str quic.Stream, r *ietf.Reader, m *ietf.PublishNamespace) {
	v := s.ietf.v
	sub, ok := namespacePath(m.Namespace)
	if !ok || sub == "" {
		s.requestError(str, ietf.RequestInternalError, "not a broadcast path")
		return
	}
	path := cleanPath(sub)
	s.mu.Lock()
	if s.ietf.published == nil {
		s.ietf.published = make(map[string]int)
	}
	if len(s.ietf.published) >= s.config.maxAnnouncements() {
		s.mu.Unlock()
		s.logger.Warn("moqt: too many published namespaces, refusing one", "limit", s.config.maxAnnouncements())
		s.requestError(str, ietf.RequestExcessiveLoad, "too many namespaces")
		return
	}
	s.ietf.published[path]++
	first := s.ietf.published[path] == 1
	readers := s.announceReadersLocked()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.ietf.published[path]--
		last := s.ietf.published[path] == 0
		if last {
			delete(s.ietf.published, path)
		}
		readers := s.announceReadersLocked()
		s.mu.Unlock()
		if last {
			for _, ar := range readers {
				ar.end(path)
			}
		}
	}()
	ok2 := ietf.RequestOK{}
	if _, err := str.Write(ok2.Append(nil, v)); err != nil {
		resetStream(str, CancelledError)
		return
	}
	if first {
		for _, ar := range readers {
			if _, ok := stripPrefix(path, ar.prefix); ok {
				ar.add(path, nil, s.config.maxAnnouncements())
			}
		}
	}
	// The advertisement lasts as long as the stream; a repeated
	// PUBLISH_NAMESPACE on it updates it (nothing to do for us).
	for {
		typ, _, err := r.ReadControl()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				str.Close()
			case isProtocolError(err):
				s.requestViolation(str, "PUBLISH_NAMESPACE stream", err)
			default:
				resetStream(str, CancelledError)
			}
			return
		}
		if typ != ietf.MsgPublishNamespace {
			s.requestViolation(str, "PUBLISH_NAMESPACE stream", fmt.Errorf("unexpected message 0x%x", typ))
			return
		}
	}
}

// registerReader makes ar see the peer's PUBLISH_NAMESPACEs under its
// prefix: those open now, and those to come.
func (s *Session) registerReader(ar *AnnouncementReader) {
	s.mu.Lock()
	if s.ietf.readers == nil {
		s.ietf.readers = make(map[*AnnouncementReader]struct{})
	}
	s.ietf.readers[ar] = struct{}{}
	var paths []string
	for path := range s.ietf.published {
		paths = append(paths, path)
	}
	s.mu.Unlock()
	for _, path := range paths {
		if _, ok := stripPrefix(path, ar.prefix); ok {
			ar.add(path, nil, s.config.maxAnnouncements())
		}
	}
}

func (s *Session) unregisterReader(ar *AnnouncementReader) {
	s.mu.Lock()
	delete(s.ietf.readers, ar)
	s.mu.Unlock()
}

func (s *Session) announceReadersLocked() []*AnnouncementReader {
	out := make([]*AnnouncementReader, 0, len(s.ietf.readers))
	for ar := range s.ietf.readers {
		out = append(out, ar)
	}
	return out
}

// wireCode is the number that carries our code c on a reset or
// STOP_SENDING of one of the session's streams. On moq-lite it is c. On IETF
// it is the drafts' stream reset code nearest in meaning: INTERNAL_ERROR,
// CANCELLED, DELIVERY_TIMEOUT, SESSION_CLOSED, GOING_AWAY, TOO_FAR_BEHIND
// and MALFORMED_TRACK are the same numbers as ours (GOING_AWAY, which draft
// 17 lacks, is INTERNAL_ERROR there); a group dropped as too old is
// DELIVERY_TIMEOUT (the bound SUBSCRIBE_OK advertised as the track's
// delivery timeout), a limit is EXCESSIVE_LOAD, an authorization refusal
// EXPIRED_AUTH_TOKEN on 18+, our other moq-lite codes INTERNAL_ERROR. A code
// of the application's own passes through.
func (s *Session) wireCode(c StreamErrorCode) quic.StreamErrorCode {
	v := s.ietf.v
	if v == 0 {
		return quic.StreamErrorCode(c)
	}
	var r ietf.StreamResetCode
	switch c {
	case InternalStreamError, NotFoundError, UnroutableError, WrongSizeError, FrameTooLargeError, ProtocolViolationStreamError:
		r = ietf.ResetInternalError
	case CancelledError:
		r = ietf.ResetCancelled
	case DeliveryTimeoutError, OldGroupError:
		r = ietf.ResetDeliveryTimeout
	case SessionClosedError:
		r = ietf.ResetSessionClosed
	case GoingAwayError:
		r = ietf.ResetGoingAway
	case TooFarBehindError:
		r = ietf.ResetTooFarBehind
	case MalformedTrackError:
		r = ietf.ResetMalformedTrack
	case TooManyError:
		r = ietf.ResetExcessiveLoad
	case UnauthorizedError:
		r = ietf.ResetExpiredAuthToken
	default:
		return quic.StreamErrorCode(c)
	}
	return quic.StreamErrorCode(r.Wire(v))
}

// fromWire maps a reset code a peer sent on one of the session's streams
// to ours, the inverse of wireCode where the drafts have a code of their
// own: on IETF, UNKNOWN_OBJECT_STATUS is InternalStreamError,
// EXPIRED_AUTH_TOKEN UnauthorizedError and EXCESSIVE_LOAD TooManyError.
func (s *Session) fromWire(x StreamErrorCode) StreamErrorCode {
	v := s.ietf.v
	if v == 0 {
		return x
	}
	switch ietf.StreamResetCodeOf(uint64(x), v) {
	case ietf.ResetUnknownObjectStatus:
		return InternalStreamError
	case ietf.ResetExpiredAuthToken:
		return UnauthorizedError
	case ietf.ResetExcessiveLoad:
		return TooManyError
	}
	return x
}

// streamCode is the free streamCode with the code mapped by fromWire.
func (s *Session) streamCode(err error) (StreamErrorCode, bool, bool) {
	code, remote, ok := streamCode(err)
	if ok {
		code = s.fromWire(code)
	}
	return code, remote, ok
}

// reset resets both directions of str with code, as wireCode carries it.
func (s *Session) reset(str quic.Stream, code StreamErrorCode) {
	str.CancelRead(s.wireCode(code))
	str.CancelWrite(s.wireCode(code))
}
