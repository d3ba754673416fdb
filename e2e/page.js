// Browser side of the gomoq e2e interop suite.
//
// Bundled by esbuild (see run.mjs / `npm run build`) into dist/page.bundle.js and loaded
// into a blank page. It exposes async functions on `window` that the driver calls with
// page.evaluate: publish(opts), consume(opts), announced(opts) and connect(opts).
// Every function resolves to a JSON-able object and never rejects: failures are reported
// in the result (`ok: false`, `errors: [...]`) so the Go side can assert on them.
//
// Version pinning: @moq/net's connect() spreads `props.webtransport` over its own
// WebTransport options (node_modules/@moq/net/connection/connect.js:281-299), so passing
// `webtransport.protocols = [opts.version]` makes the browser offer only that protocol.
// The WebTransport wrapper below records what was actually offered and negotiated, and
// rewrites `protocols` if a future @moq/net stops honouring the override.

import * as Moq from "@moq/net";
import QmuxSession from "@moq/qmux";

const { Connection, Broadcast, Path, Time, RemoteError } = Moq;

const VERSIONS = ["moq-lite-03", "moq-lite-04", "moq-lite-05", "moqt-17", "moqt-18", "moqt-19", "moqt-20"];

// What @moq/net's conn.version reads for a negotiated protocol: the protocol
// itself on moq-lite, "moq-transport-NN" for IETF "moqt-NN" (ietf/version.js).
const connectionVersionOf = (protocol) => (protocol?.startsWith("moqt-") ? `moq-transport-${protocol.slice(5)}` : protocol);

// Safari 17 on macOS: @moq/net never uses WebTransport for it.
const SAFARI_UA =
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";

// ---------------------------------------------------------------------------
// WebSocket observer: what QMux over WebSocket offered and negotiated
// ---------------------------------------------------------------------------

const sockets = []; // one entry per WebSocket (or WebSocketStream) constructed in this page

const NativeWebSocket = globalThis.WebSocket;
if (NativeWebSocket) {
	globalThis.WebSocket = class ObservedWebSocket extends NativeWebSocket {
		constructor(url, protocols) {
			super(url, protocols);
			const entry = { url: String(url), offered: protocols ? [].concat(protocols) : [], protocol: null };
			sockets.push(entry);
			this.addEventListener("open", () => {
				entry.protocol = this.protocol;
			});
		}
	};
}
const NativeWebSocketStream = globalThis.WebSocketStream;
if (NativeWebSocketStream) {
	globalThis.WebSocketStream = class ObservedWebSocketStream extends NativeWebSocketStream {
		constructor(url, options = {}) {
			super(url, options);
			const entry = { url: String(url), offered: options.protocols ? [...options.protocols] : [], protocol: null };
			sockets.push(entry);
			this.opened.then(
				(conn) => {
					entry.protocol = conn.protocol;
				},
				() => {},
			);
		}
	};
}

// ---------------------------------------------------------------------------
// WebTransport observer
// ---------------------------------------------------------------------------

const transports = []; // one entry per WebTransport constructed in this page
let forcedProtocols; // set per call; undefined = leave the client's list alone

function toHex(value) {
	try {
		const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
		return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
	} catch {
		return String(value);
	}
}

function countOpen(entry, kind, promise) {
	if (!entry) return promise;
	return promise.then(
		(stream) => {
			entry[`${kind}Opened`]++;
			return stream;
		},
		(err) => {
			entry[`${kind}Failed`]++;
			if (entry.openErrors.length < 10) entry.openErrors.push(`${kind}: ${describe(err)}`);
			throw err;
		},
	);
}

const NativeWebTransport = globalThis.WebTransport;
if (NativeWebTransport) {
	class ObservedWebTransport extends NativeWebTransport {
		constructor(url, options = {}) {
			let opts = options;
			let rewritten = false;
			if (forcedProtocols !== undefined) {
				const offered = options.protocols ?? [];
				if (offered.length !== forcedProtocols.length || offered.some((p, i) => p !== forcedProtocols[i])) {
					opts = { ...options, protocols: [...forcedProtocols] };
					rewritten = true;
				}
			}
			super(url, opts);
			const entry = {
				url: String(url),
				offered: opts.protocols ? [...opts.protocols] : null,
				offeredByLibrary: options.protocols ? [...options.protocols] : null,
				rewritten,
				serverCertificateHashes: (opts.serverCertificateHashes ?? []).map((h) => ({
					algorithm: h.algorithm,
					value: toHex(h.value),
				})),
				allowPooling: opts.allowPooling,
				congestionControl: opts.congestionControl,
				protocol: undefined,
				ready: false,
				error: undefined,
				closed: undefined,
				// Outgoing stream opens, so a test can tell a dropped group (the publisher opens
				// group streams with waitUntilAvailable:false and drops the group on failure,
				// lite/publisher.js:526-534) from a server that lost it.
				uniOpened: 0,
				uniFailed: 0,
				bidiOpened: 0,
				bidiFailed: 0,
				openErrors: [],
			};
			transports.push(entry);
			this.__entry = entry;
			this.ready.then(
				() => {
					entry.ready = true;
					entry.protocol = this.protocol;
				},
				(err) => {
					entry.error = describe(err);
				},
			);
			this.closed.then(
				(info) => {
					entry.closed = { closeCode: info?.closeCode, reason: info?.reason };
				},
				(err) => {
					entry.closed = { error: describe(err) };
				},
			);
		}

		createUnidirectionalStream(options) {
			return countOpen(this.__entry, "uni", super.createUnidirectionalStream(options));
		}

		createBidirectionalStream(options) {
			return countOpen(this.__entry, "bidi", super.createBidirectionalStream(options));
		}
	}
	globalThis.WebTransport = ObservedWebTransport;
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const t0 = performance.now();
const now = () => Math.round((performance.now() - t0) * 1000) / 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function describe(err) {
	if (err === undefined || err === null) return String(err);
	if (err instanceof RemoteError) return `RemoteError: remote error: ${err.code}`;
	if (typeof WebTransportError !== "undefined" && err instanceof WebTransportError) {
		const parts = [`source=${err.source}`];
		if (err.streamErrorCode !== null && err.streamErrorCode !== undefined) parts.push(`code=${err.streamErrorCode}`);
		return `WebTransportError: ${err.message || "(no message)"} (${parts.join(" ")})`;
	}
	if (typeof AggregateError !== "undefined" && err instanceof AggregateError) {
		return `AggregateError: ${(err.errors ?? []).map(describe).join("; ")}`;
	}
	if (err instanceof Error) return `${err.name}: ${err.message}`;
	return String(err);
}

function errorInfo(err) {
	const out = { message: describe(err) };
	if (err instanceof RemoteError) out.code = err.code;
	if (err?.stack) out.stack = String(err.stack).split("\n").slice(0, 8).join("\n");
	return out;
}

// Resolves to `value` after `ms`, for Promise.race deadlines.
function after(ms, value) {
	return new Promise((resolve) => setTimeout(() => resolve(value), Math.max(0, ms)));
}

function checkVersion(version) {
	if (version === undefined || version === null) return undefined;
	if (!VERSIONS.includes(version)) throw new Error(`unsupported opts.version ${version}; want one of ${VERSIONS.join(", ")}`);
	return version;
}

// Connect with @moq/net, pinning the WebTransport protocol and the certificate.
// Returns { conn, info } where info is JSON-able.
async function open(opts) {
	if (!opts?.url) throw new Error("opts.url is required");
	const version = checkVersion(opts.version);
	const url = new URL(opts.url);
	const webtransport = {};
	if (version) webtransport.protocols = [version];
	if (opts.certHash) {
		// @moq/net accepts a hex string here and decodes it (connect.js:266-276).
		webtransport.serverCertificateHashes = [{ algorithm: "sha-256", value: String(opts.certHash).toLowerCase() }];
	}
	forcedProtocols = version ? [version] : undefined;
	const first = transports.length;
	const started = now();
	const info = {
		url: opts.url,
		requestedVersion: version ?? null,
		requestedTransport: opts.transport || "webtransport",
		certHash: opts.certHash ?? null,
	};
	let conn;
	let qmux; // the @moq/qmux session, over WebSocket
	try {
		const signal = AbortSignal.timeout(opts.connectTimeoutMs ?? 10000);
		if (opts.transport === "websocket") {
			// QMux over WebSocket offering only the pinned version (over every QMux
			// draft @moq/qmux knows), handed to @moq/net as its transport.
			if (!version) throw new Error("transport websocket needs opts.version");
			qmux = new QmuxSession(url, { protocols: [version], versions: { [version]: null }, requireProtocol: true });
			// @moq/net reads the negotiated protocol at once when handed a transport
			// (its own WebSocket path waits for `ready` first, connect.js:336).
			await qmux.ready;
			conn = await Connection.connect(url, { transport: qmux, signal });
		} else if (opts.transport === "safari") {
			// What Safari users get: @moq/net's browser check sends them to WebSocket
			// with its own subprotocol offer.
			Object.defineProperty(navigator, "userAgent", { get: () => SAFARI_UA, configurable: true });
			conn = await Connection.connect(url, { webtransport, signal });
		} else {
			conn = await Connection.connect(url, {
				webtransport,
				// Never fall back to WebSocket: these runs test WebTransport.
				websocket: { enabled: opts.websocket === true },
				signal,
			});
		}
	} catch (err) {
		info.transports = transports.slice(first);
		info.connectMs = now() - started;
		info.offered = info.transports[info.transports.length - 1]?.offered ?? null;
		// "" when the WebTransport session came up without a WT-Protocol answer (@moq/net
		// then tries the legacy 0x20 SETUP handshake, connect.js:170-196).
		info.protocol = info.transports[info.transports.length - 1]?.protocol ?? null;
		const e = new Error(`connect failed: ${describe(err)}`);
		e.info = info;
		throw e;
	}
	info.connectMs = now() - started;
	info.transports = transports.slice(first);
	const wt = info.transports[info.transports.length - 1];
	// The protocol the session actually negotiated (WebTransport.protocol, from WT-Protocol;
	// over WebSocket the subprotocol with its qmux-0N. prefix stripped).
	info.protocol = wt?.protocol ?? null;
	info.offered = wt?.offered ?? null;
	if (conn.transport === "websocket") {
		// The subprotocol the server chose, without its qmux-0N. prefix.
		const ws = sockets[sockets.length - 1];
		info.subprotocol = ws?.protocol ?? null;
		info.protocol = ws?.protocol ? ws.protocol.replace(/^qmux-0[0-9]\./, "") : null;
		info.offered = ws?.offered ?? null;
		info.transports = [];
	}
	// What @moq/net decided from it (lite/connection.js `version`).
	info.connectionVersion = conn.version ?? null;
	info.transport = conn.transport ?? null;
	info.versionMatches = version ? info.protocol === version && info.connectionVersion === connectionVersionOf(version) : null;
	info.closed = null;
	conn.closed.then(
		() => {
			info.closed = { at: now() };
		},
		(err) => {
			info.closed = { at: now(), error: describe(err) };
		},
	);
	return { conn, info };
}

function safeClose(conn) {
	try {
		conn?.close();
	} catch {
		// ignore
	}
}

// Close conn and, with opts.waitClosed, wait (up to closeTimeoutMs, default 10000) until
// it has closed: result.closeWait is "closed", "error: …" or "timeout". open() records the
// close itself in info.closed, and the WebTransport observer in transports[].closed.
async function closeAndWait(conn, opts, result) {
	safeClose(conn);
	if (!opts.waitClosed || !conn) return;
	result.closeWait = await Promise.race([
		conn.closed.then(
			() => "closed",
			(err) => `error: ${describe(err)}`,
		),
		after(opts.closeTimeoutMs ?? 10000, "timeout"),
	]);
}

// Watch conn for an announcement of the broadcast at path (relative to the connection's
// root): `active` resolves to true once it is announced active (before or after this
// call), to false if the announcement stream ends first. A test announces such a
// broadcast to tell the page that something happened on its side.
function watchAnnounced(conn, path) {
	const prefix = Path.from(path);
	const consumer = conn.announced(prefix);
	let resolve;
	const active = new Promise((r) => {
		resolve = r;
	});
	void (async () => {
		try {
			for (;;) {
				const entry = await consumer.next();
				if (!entry) break;
				if (entry.active && Path.join(prefix, entry.path) === prefix) {
					resolve(true);
					break;
				}
			}
		} catch {
			// the stream failed: not announced
		}
		resolve(false);
		consumer.close();
	})();
	return { path, active, close: () => consumer.close() };
}

// ---------------------------------------------------------------------------
// connect: just connect, report the negotiated protocol, hold, close
// ---------------------------------------------------------------------------

async function connect(opts = {}) {
	const result = { fn: "connect", ok: false, connect: null, errors: [] };
	let conn;
	try {
		const opened = await open(opts);
		conn = opened.conn;
		result.connect = opened.info;
		await sleep(opts.holdMs ?? 0);
		result.ok = true;
	} catch (err) {
		result.errors.push(errorInfo(err));
		if (err?.info) result.connect = err.info;
	} finally {
		await closeAndWait(conn, opts, result);
	}
	if (opts.lingerMs) await sleep(opts.lingerMs);
	return result;
}

// ---------------------------------------------------------------------------
// publish
// ---------------------------------------------------------------------------

async function publish(opts = {}) {
	const timescale = opts.timescale ?? Time.Timescale.MICRO;
	const result = {
		fn: "publish",
		ok: false,
		broadcast: opts.broadcast,
		connect: null,
		// Frame timestamps are produced as Time.Timestamp(group*1e6 + frame*1e3, MICRO), i.e.
		// microseconds; the track is created with `timescale` units per second, which is
		// what TRACK_INFO advertises on moq-lite-05 (03/04 carry no timestamps).
		timestampUnit: "microseconds",
		timescale,
		written: [],
		events: [],
		errors: [],
	};
	const ev = (event, extra = {}) => result.events.push({ t: now(), event, ...extra });
	let conn;
	let broadcast;
	const tracks = [];
	const acks = []; // watchAnnounced, for awaitAnnounced and awaitAnnouncedAfterClose
	// Wait for a broadcast the test announces (see watchAnnounced).
	const awaitAck = async (ack) => {
		const ms = opts.announcedTimeoutMs ?? 20000;
		const ok = await Promise.race([ack.active, after(ms, false)]);
		ev(ok ? "ack announced" : "no ack", { path: ack.path });
		if (!ok) result.errors.push({ message: `${ack.path} was not announced within ${ms}ms` });
	};
	try {
		if (!opts.broadcast) throw new Error("opts.broadcast is required");
		const specs = opts.tracks ?? [];
		const opened = await open(opts);
		conn = opened.conn;
		result.connect = opened.info;
		ev("connected", { protocol: opened.info.protocol });
		const ackBeforeClose = opts.awaitAnnounced ? watchAnnounced(conn, opts.awaitAnnounced) : undefined;
		const ackAfterClose = opts.awaitAnnouncedAfterClose ? watchAnnounced(conn, opts.awaitAnnouncedAfterClose) : undefined;
		for (const ack of [ackBeforeClose, ackAfterClose]) if (ack) acks.push(ack);

		broadcast = new Broadcast.Producer();
		for (const spec of specs) {
			const producer = broadcast.createTrack(spec.name, {
				timescale,
				priority: spec.priority,
				latencyMax: spec.latencyMaxMs,
			});
			const entry = { spec, producer, subscribers: 0 };
			// Record demand changes (a wire subscription attaching or leaving).
			producer.used.subscribe((used) => ev(used ? "track used" : "track unused", { track: spec.name }));
			tracks.push(entry);
		}
		conn.publish(Path.from(opts.broadcast), broadcast);
		ev("published", { path: Path.from(opts.broadcast) });

		if (opts.waitForSubscriber) {
			const deadline = opts.subscriberTimeoutMs ?? 20000;
			const all = Promise.all(
				tracks.map(async ({ producer }) => {
					while (!producer.used.peek()) await producer.used.changed();
				}),
			).then(() => true);
			const ok = await Promise.race([all, after(deadline, false)]);
			if (!ok) {
				ev("no subscriber", { waitedMs: deadline });
				result.errors.push({ message: `no subscriber on every track within ${deadline}ms` });
			} else {
				ev("subscribers present");
			}
		}
		if (opts.startDelayMs) await sleep(opts.startDelayMs);

		await Promise.all(
			tracks.map(async ({ spec, producer }) => {
				const groups = spec.groups ?? 1;
				const framesPerGroup = spec.framesPerGroup ?? 1;
				const interval = spec.frameIntervalMs ?? 0;
				const encoder = new TextEncoder();
				for (let g = 0; g < groups; g++) {
					const group = producer.appendGroup();
					for (let f = 0; f < framesPerGroup; f++) {
						const payload = `${spec.name}:${g}:${f}`;
						const micros = g * 1_000_000 + f * 1_000;
						group.writeFrame({ payload: encoder.encode(payload), timestamp: new Time.Timestamp(micros, Time.Timescale.MICRO) });
						result.written.push({
							track: spec.name,
							group: group.sequence,
							frameIndexInGroup: f,
							payload,
							timestamp: micros,
							t: now(),
						});
						if (interval > 0) await sleep(interval);
					}
					group.close();
				}
			}),
		);
		ev("written");

		if (opts.holdMs) await sleep(opts.holdMs);
		for (const { spec, producer } of tracks) {
			producer.close();
			ev("track closed", { track: spec.name });
		}
		if (ackBeforeClose) await awaitAck(ackBeforeClose);
		else if (opts.closeAfterMs ?? 500) await sleep(opts.closeAfterMs ?? 500);
		broadcast.close();
		ev("broadcast closed");
		if (ackAfterClose) await awaitAck(ackAfterClose);
		else if (opts.lingerMs ?? 500) await sleep(opts.lingerMs ?? 500);
		result.ok = result.errors.length === 0;
	} catch (err) {
		result.errors.push(errorInfo(err));
		if (err?.info) result.connect = err.info;
	} finally {
		try {
			broadcast?.close();
		} catch {
			// ignore
		}
		for (const ack of acks) ack.close();
		await closeAndWait(conn, opts, result);
		ev("connection closed");
	}
	return result;
}

// ---------------------------------------------------------------------------
// consume
// ---------------------------------------------------------------------------

async function consume(opts = {}) {
	const result = {
		fn: "consume",
		ok: false,
		broadcast: opts.broadcast,
		connect: null,
		frames: [],
		groupErrors: [],
		announcements: [],
		trackEnds: {},
		// On moq-lite-05 timestamps come off the wire (TRACK_INFO timescale); on 03/04 the
		// library stamps each frame with performance.now() on arrival (subscriber.js:713-719).
		timestampsOnWire: null,
		trackInfo: {},
		events: [],
		errors: [],
	};
	const ev = (event, extra = {}) => result.events.push({ t: now(), event, ...extra });
	const timeoutMs = opts.timeoutMs ?? 15000;
	const deadline = performance.now() + timeoutMs;
	const remaining = () => deadline - performance.now();
	let conn;
	let announced;
	let bc;
	const subs = [];
	try {
		if (!opts.broadcast) throw new Error("opts.broadcast is required");
		const path = Path.from(opts.broadcast);
		const opened = await open(opts);
		conn = opened.conn;
		result.connect = opened.info;
		result.timestampsOnWire = opened.info.connectionVersion === "moq-lite-05";
		ev("connected", { protocol: opened.info.protocol });

		if (opts.subscribeFirst) {
			// Subscribe to each track once before anything else (the interop runner's
			// subscribe-before-announce), until the first group or the track's end.
			// result.early gets each outcome: "error: …" (refused), "group N", "ended" or
			// "timeout"; then the console line "consume <broadcast>: early subscribe done",
			// which a test can wait for before it announces the broadcast.
			result.early = {};
			const early = conn.consume(path);
			await Promise.all(
				(opts.tracks ?? []).map(async (name) => {
					const sub = early.subscribe(name, { priority: opts.priority });
					let outcome;
					try {
						const group = await Promise.race([sub.recvGroup(), after(remaining(), "timeout")]);
						outcome = group === "timeout" ? "timeout" : group ? `group ${group.sequence}` : "ended";
					} catch (err) {
						outcome = `error: ${describe(err)}`;
					}
					result.early[name] = outcome;
					sub.close();
				}),
			);
			early.close();
			ev("early subscribe", { early: result.early });
			console.info(`consume ${opts.broadcast}: early subscribe done`);
		}

		let unannounced;
		const unannouncedP = new Promise((resolve) => {
			unannounced = resolve;
		});
		if (opts.discover) {
			const prefix = Path.from(opts.discoverPrefix ?? opts.broadcast);
			announced = conn.announced(prefix);
			let found;
			const foundP = new Promise((resolve) => {
				found = resolve;
			});
			void (async () => {
				try {
					for (;;) {
						const entry = await announced.next();
						if (!entry) {
							result.announcements.push({ t: now(), closed: true });
							break;
						}
						const full = Path.join(prefix, entry.path);
						result.announcements.push({ t: now(), path: entry.path, full, active: entry.active });
						if (full === path) {
							if (entry.active) found(true);
							else unannounced(true);
						}
					}
				} catch (err) {
					result.announcements.push({ t: now(), error: describe(err) });
				}
				found(false);
				unannounced(false);
			})();
			const ok = await Promise.race([foundP, after(remaining(), false)]);
			if (!ok) {
				ev("not announced");
				result.errors.push({ message: `broadcast ${path} was not announced active within ${timeoutMs}ms` });
				for (const name of opts.tracks ?? []) result.trackEnds[name] = "timeout";
				return result;
			}
			ev("announced");
		}

		// The first frame of each track is also logged to the console, which the driver
		// streams to stderr as it happens: a test can wait for that line to pace a publisher.
		const firstFrameLogged = new Set();
		async function readGroup(name, group) {
			let index = 0;
			try {
				for (;;) {
					const frame = await group.readFrame();
					if (!frame) break;
					if (!firstFrameLogged.has(name)) {
						firstFrameLogged.add(name);
						console.info(`consume ${opts.broadcast}: first frame track=${name} group=${group.sequence} frame=${index}`);
					}
					const ts = frame.timestamp;
					result.frames.push({
						track: name,
						group: group.sequence,
						frameIndexInGroup: index++,
						payload: new TextDecoder().decode(frame.payload),
						timestamp: ts ? ts.value : null,
						timestampScale: ts ? ts.scale : null,
						timestampMicros: ts ? ts.asMicros() : null,
						t: now(),
					});
				}
			} catch (err) {
				result.groupErrors.push({ track: name, group: group.sequence, afterFrames: index, error: describe(err) });
			}
		}

		bc = conn.consume(path);
		await Promise.all(
			(opts.tracks ?? []).map(async (name) => {
				const sub = bc.subscribe(name, {
					priority: opts.priority,
					startGroup: opts.startGroup,
					endGroup: opts.endGroup,
				});
				subs.push(sub);
				ev("subscribed", { track: name });
				void sub.info().then(
					(info) => {
						result.trackInfo[name] = info;
					},
					() => {},
				);
				const readers = [];
				let end;
				try {
					for (;;) {
						const group = await Promise.race([sub.recvGroup(), after(remaining(), "timeout")]);
						if (group === "timeout") {
							end = "timeout";
							break;
						}
						if (!group) {
							end = "ended";
							break;
						}
						ev("group", { track: name, group: group.sequence });
						readers.push(readGroup(name, group));
					}
				} catch (err) {
					end = `error: ${describe(err)}`;
				}
				const drained = await Promise.race([Promise.all(readers).then(() => true), after(remaining(), false)]);
				if (!drained && end === "ended") end = "timeout (groups not finished)";
				result.trackEnds[name] = end;
				ev("track end", { track: name, end });
				sub.close();
			}),
		);

		if (opts.discover && opts.waitForUnannounceMs) {
			const ok = await Promise.race([unannouncedP, after(Math.min(opts.waitForUnannounceMs, remaining()), false)]);
			ev(ok ? "unannounced" : "no unannounce");
		}
		result.ok = result.errors.length === 0;
	} catch (err) {
		result.errors.push(errorInfo(err));
		if (err?.info) result.connect = err.info;
		for (const name of opts.tracks ?? []) result.trackEnds[name] ??= `error: ${describe(err)}`;
	} finally {
		for (const sub of subs) sub.close();
		bc?.close();
		announced?.close();
		if (opts.lingerMs) await sleep(opts.lingerMs);
		safeClose(conn);
	}
	return result;
}

// ---------------------------------------------------------------------------
// announced
// ---------------------------------------------------------------------------

async function announcedFn(opts = {}) {
	const result = { fn: "announced", ok: false, prefix: opts.prefix ?? "", connect: null, events: [], ended: null, errors: [] };
	const timeoutMs = opts.timeoutMs ?? 10000;
	const count = opts.count ?? Number.POSITIVE_INFINITY;
	let conn;
	let consumer;
	try {
		const opened = await open(opts);
		conn = opened.conn;
		result.connect = opened.info;
		const prefix = Path.from(opts.prefix ?? "");
		consumer = conn.announced(prefix);
		const deadline = performance.now() + timeoutMs;
		while (result.events.length < count) {
			let entry;
			try {
				entry = await Promise.race([consumer.next(), after(deadline - performance.now(), "timeout")]);
			} catch (err) {
				result.ended = `error: ${describe(err)}`;
				break;
			}
			if (entry === "timeout") {
				result.ended = "timeout";
				break;
			}
			if (!entry) {
				result.ended = "closed";
				break;
			}
			result.events.push({ path: entry.path, full: Path.join(prefix, entry.path), active: entry.active, t: now() });
		}
		if (result.ended === null) result.ended = "count";
		result.ok = true;
	} catch (err) {
		result.errors.push(errorInfo(err));
		if (err?.info) result.connect = err.info;
	} finally {
		consumer?.close();
		if (opts.lingerMs) await sleep(opts.lingerMs);
		safeClose(conn);
	}
	return result;
}

// ---------------------------------------------------------------------------

Object.assign(window, {
	connect,
	publish,
	consume,
	announced: announcedFn,
	moqTransports: () => JSON.parse(JSON.stringify(transports)),
	moqReady: true,
});
console.info("gomoq e2e page ready");
