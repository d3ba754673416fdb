// Generates golden.json from the real JavaScript peer, @moq/net 0.3.4 (its ietf/ encoders).
//
// Usage (from moqt/internal/ietf):
//   node testdata/gen_golden.mjs > testdata/golden.json
// MOQ_NET overrides the package directory (default: e2e/node_modules/@moq/net of this
// repository, which pins 0.3.4).
//
// Every vector is the output of the named @moq/net encoder run, for each draft it
// supports, on the inputs that golden_test.go restates as Go values under the same name.
// Control messages are framed as @moq/net's control stream writes them: Type | Length(16) |
// Payload. Where @moq/net has no encoder for a case, the bytes are built here with
// @moq/net's own varint writer, and the vector's "source" says so.

import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const base = process.env.MOQ_NET ?? `${here}../../../../e2e/node_modules/@moq/net`;
const pkg = JSON.parse(await readFile(`${base}/package.json`, "utf8"));
if (pkg.version !== "0.3.4") throw new Error(`want @moq/net 0.3.4, have ${pkg.version}`);

const { Writer } = await import(`${base}/stream.js`);
const { Version } = await import(`${base}/ietf/version.js`);
const { Setup } = await import(`${base}/ietf/setup.js`);
const { SetupOptions, SetupOption, Parameters } = await import(`${base}/ietf/parameters.js`);
const { solicitIntoSetup } = await import(`${base}/ietf/solicit.js`);
const Cluster = await import(`${base}/ietf/cluster.js`);
const { RequestOk, RequestError } = await import(`${base}/ietf/request.js`);
const { GoAway } = await import(`${base}/ietf/goaway.js`);
const { Subscribe, SubscribeOk, SubscribeUpdate } = await import(`${base}/ietf/subscribe.js`);
const { PublishDone, Publish } = await import(`${base}/ietf/publish.js`);
const { TrackStatusRequest } = await import(`${base}/ietf/track.js`);
const { PublishNamespace } = await import(`${base}/ietf/publish_namespace.js`);
const SN = await import(`${base}/ietf/subscribe_namespace.js`);
const Obj = await import(`${base}/ietf/object.js`);
const { Timestamp } = await import(`${base}/time.js`);
const { FetchHeader } = await import(`${base}/ietf/fetch.js`);
const Namespace = await import(`${base}/ietf/namespace.js`);
const Filter = await import(`${base}/ietf/filter.js`);

const drafts = { 17: Version.DRAFT_17, 18: Version.DRAFT_18, 19: Version.DRAFT_19, 20: Version.DRAFT_20 };

// capture runs fn against a @moq/net Writer speaking version and returns the bytes, in hex.
async function capture(version, fn) {
	const chunks = [];
	const w = new Writer(
		new WritableStream({
			write(c) {
				chunks.push(Buffer.from(c));
			},
		}),
		version,
	);
	await fn(w);
	w.close();
	await w.closed;
	return Buffer.concat(chunks).toString("hex");
}

// control frames msg as @moq/net's control stream does (control.js Stream.write).
function control(msg) {
	return (version) =>
		capture(version, async (w) => {
			await w.u53(msg.constructor.id);
			await msg.encode(w, version);
		});
}

const vectors = [];
async function add(name, source, fn, versions = Object.keys(drafts)) {
	for (const d of versions) {
		vectors.push({ name, draft: Number(d), source, hex: await fn(drafts[d]) });
	}
}

// Varints: @moq/net's Writer.u62 on every draft (the leading-ones form).
for (const [name, x] of [
	["varint-0", 0n],
	["varint-37", 37n],
	["varint-127", 127n],
	["varint-128", 128n],
	["varint-15293", 15293n],
	["varint-2^14", 1n << 14n],
	["varint-494878333", 494878333n],
	["varint-2^28", 1n << 28n],
	["varint-2^35-1", (1n << 35n) - 1n],
	["varint-2893212287960", 2893212287960n],
	["varint-2^42", 1n << 42n],
	["varint-2^49", 1n << 49n],
	["varint-70423237261249041", 70423237261249041n],
	["varint-2^56", 1n << 56n],
	["varint-max", (1n << 64n) - 1n],
]) {
	await add(name, "Writer.u62", (v) => capture(v, (w) => w.u62(x)));
}

// SETUP: what exchangeSetup (connection/handshake.js) sends, and a bare one.
const enc = new TextEncoder();
await add("setup-moq-lite-js", "Setup.encode after exchangeSetup's options", (v) => {
	const params = new SetupOptions();
	params.setBytes(SetupOption.Implementation, enc.encode("moq-lite-js"));
	solicitIntoSetup(params);
	Cluster.intoSetup(params, 0x1234567n, v);
	return capture(v, async (w) => {
		await w.u53(Setup.id);
		await new Setup({ parameters: params }).encode(w, v);
	});
});
await add("setup-empty", "Setup.encode", (v) =>
	capture(v, async (w) => {
		await w.u53(Setup.id);
		await new Setup().encode(w, v);
	}),
);
await add("setup-path-authority", "Setup.encode", (v) => {
	const params = new SetupOptions();
	params.setBytes(SetupOption.Path, enc.encode("/moq?jwt=abc"));
	params.setVarint(SetupOption.MaxAuthTokenCacheSize, 4096n);
	params.setBytes(SetupOption.Authority, enc.encode("relay.example:4443"));
	return capture(v, async (w) => {
		await w.u53(Setup.id);
		await new Setup({ parameters: params }).encode(w, v);
	});
});

// REQUEST_OK / REQUEST_ERROR.
await add("request-ok-empty", "RequestOk.encode", control(new RequestOk({})));
await add(
	"request-ok-params",
	"RequestOk.encode",
	(v) => {
		const p = new Parameters();
		p.expires = 30000n;
		p.largest = { groupId: 7n, objectId: 3n };
		return control(new RequestOk({ parameters: p }))(v);
	},
);
await add(
	"request-error",
	"RequestError.encode",
	control(new RequestError({ errorCode: 0x10, reasonPhrase: "track does not exist", retryInterval: 1500n })),
);
await add("request-error-empty", "RequestError.encode", control(new RequestError({ errorCode: 0, reasonPhrase: "" })));

// GOAWAY.
await add("goaway", "GoAway.encode", control(new GoAway({ newSessionUri: "https://relay2.example/moq", timeout: 5000n })));
await add("goaway-empty", "GoAway.encode", control(new GoAway({ newSessionUri: "" })));

// SUBSCRIBE: @moq/net's own subscriber (Largest Object through 19, relative 1 on 20), and
// a draft-20 absolute range with a fill opt-out.
await add("subscribe-join", "Subscribe.encode with joinFilter", (v) =>
	control(
		new Subscribe({
			requestId: 4n,
			trackNamespace: "live/room",
			trackName: "video",
			subscriberPriority: 128,
			filter: v === Version.DRAFT_20 ? { kind: "relative", groups: 1n } : { kind: "nextObject" },
		}),
	)(v),
);
await add(
	"subscribe-unfiltered",
	"Subscribe.encode",
	control(new Subscribe({ requestId: 0n, trackNamespace: "", trackName: "", subscriberPriority: 0 })),
);
await add(
	"subscribe-absolute",
	"Subscribe.encode",
	control(
		new Subscribe({
			requestId: 1000n,
			trackNamespace: "a/b/c",
			trackName: "catalog.json",
			subscriberPriority: 255,
			filter: { kind: "absolute", startGroup: 5n, startObject: 0n, endGroup: 9n },
			propertiesWanted: false,
		}),
	),
);

// SUBSCRIBE_OK: with the properties @moq/net's publisher sends, and bare.
await add(
	"subscribe-ok",
	"SubscribeOk.encode",
	control(new SubscribeOk({ trackAlias: 1n, largest: { groupId: 12n, objectId: 4n }, properties: { timescale: 1000000, groupOrder: 2 } })),
);
await add("subscribe-ok-bare", "SubscribeOk.encode", control(new SubscribeOk({ trackAlias: 300n })));

// REQUEST_UPDATE.
await add("request-update", "SubscribeUpdate.encode", control(new SubscribeUpdate({ requestId: 6n })));

// PUBLISH_DONE.
await add("publish-done", "PublishDone.encode", control(new PublishDone({ statusCode: 2, reasonPhrase: "track ended" })));

// PUBLISH_NAMESPACE, bare and with the Cluster parameters.
await add(
	"publish-namespace",
	"PublishNamespace.encode",
	control(new PublishNamespace({ requestId: 2n, trackNamespace: "live/room" })),
);
await add(
	"publish-namespace-cluster",
	"PublishNamespace.encode with cluster",
	control(new PublishNamespace({ requestId: 3n, trackNamespace: "x", cluster: { hops: [0x1234567n], cost: 0n } })),
);

// SUBSCRIBE_NAMESPACE: the 0x11 form on 17, the 0x50 form on 18+.
await add(
	"subscribe-namespace",
	"SubscribeNamespaceLegacy.encode",
	control(new SN.SubscribeNamespaceLegacy({ requestId: 8n, namespace: "live", subscribeOptions: 1 })),
	["17"],
);
await add(
	"subscribe-namespace",
	"SubscribeNamespace.encode",
	control(new SN.SubscribeNamespace({ requestId: 8n, namespace: "live" })),
	["18", "19", "20"],
);

// NAMESPACE / NAMESPACE_DONE on the SUBSCRIBE_NAMESPACE stream.
await add("namespace", "SubscribeNamespaceEntry.encode", control(new SN.SubscribeNamespaceEntry({ suffix: "room/1" })));
await add("namespace-done", "SubscribeNamespaceEntryDone.encode", control(new SN.SubscribeNamespaceEntryDone({ suffix: "room/1" })));

// Subgroup headers: the flags @moq/net's publisher uses (publisher.js), and the other
// Subgroup ID modes. Group.encode writes the Type as one varint then the fields.
const headers = {
	"subgroup-header-moq": { trackAlias: 1n, groupId: 42, subGroupId: 0, publisherPriority: 0, flags: { hasExtensions: true, hasSubgroup: false, hasSubgroupObject: false, hasEnd: true, hasPriority: true, firstObject: true } },
	"subgroup-header-explicit": { trackAlias: 7n, groupId: 1000, subGroupId: 3, publisherPriority: 0, flags: { hasExtensions: false, hasSubgroup: true, hasSubgroupObject: false, hasEnd: false, hasPriority: false, firstObject: false } },
	"subgroup-header-first-id": { trackAlias: 300n, groupId: 0, subGroupId: 0, publisherPriority: 200, flags: { hasExtensions: false, hasSubgroup: false, hasSubgroupObject: true, hasEnd: true, hasPriority: true, firstObject: true } },
};
for (const [name, h] of Object.entries(headers)) {
	await add(name, "Group.encode", (v) => capture(v, (w) => new Obj.Group(h).encode(w, v)));
}

// Subgroup objects, as Frame.encode writes them after a header with or without properties.
const withProps = { hasExtensions: true, hasEnd: true };
const noProps = { hasExtensions: false, hasEnd: true };
await add("object-timestamp", "Frame.encode (properties, Timestamp at timescale 1000)", (v) =>
	capture(v, (w) => new Obj.Frame({ payload: enc.encode("hello"), timestamp: new Timestamp(1234567, 1000) }).encode(w, withProps, 1000, v, 5)),
);
await add("object-props-empty", "Frame.encode (properties, no timestamp)", (v) =>
	capture(v, (w) => new Obj.Frame({ payload: enc.encode("x") }).encode(w, withProps, 1000, v, 0)),
);
await add("object-plain", "Frame.encode", (v) =>
	capture(v, (w) => new Obj.Frame({ payload: new Uint8Array(200).fill(0xab) }).encode(w, noProps, undefined, v, 0)),
);
await add("object-empty", "Frame.encode (empty payload, status Normal)", (v) =>
	capture(v, (w) => new Obj.Frame({ payload: new Uint8Array(0) }).encode(w, noProps, undefined, v, 0)),
);
await add("object-end-of-group", "Frame.encode (end of group marker)", (v) =>
	capture(v, (w) => new Obj.Frame({}).encode(w, noProps, undefined, v, 0)),
);

// FETCH_HEADER and fetch objects, as @moq/net's publisher writes a fill (publisher.js).
await add("fetch-header", "FetchHeader.encode after the stream type", (v) =>
	capture(v, async (w) => {
		await w.u53(FetchHeader.type);
		await new FetchHeader({ requestId: 9n }).encode(w, v);
	}),
);
await add("fetch-object-first", "FetchFrame.encode (first, with a Timestamp)", (v) =>
	capture(v, (w) =>
		new Obj.FetchFrame({ payload: enc.encode("frame"), timestamp: new Timestamp(90, 1000) }).encode(w, { group: 17, object: 2, first: true }, 1000, v),
	),
);
await add("fetch-object-next", "FetchFrame.encode (not first)", (v) =>
	capture(v, (w) => new Obj.FetchFrame({ payload: enc.encode("next") }).encode(w, { group: 17, object: 3, first: false }, 1000, v)),
);

// FETCH and FETCH_OK: @moq/net 0.3.4 throws "not supported" for both, so these are built
// field by field with its Writer (varints in the draft's vi64) after the draft text.
function frame(id, body) {
	return (v) =>
		capture(v, async (w) => {
			const inner = Buffer.from(await capture(v, (iw) => body(iw, v)), "hex");
			await w.u53(id);
			await w.u16(inner.length);
			await w.write(new Uint8Array(inner));
		});
}
await add(
	"fetch-standalone",
	"hand-built with Writer (FETCH has no @moq/net encoder)",
	frame(0x16, async (w, v) => {
		await w.u62(10n);
		if (v === Version.DRAFT_17) await w.u62(0n);
		await w.u62(1n); // standalone
		await Namespace.encode(w, "live/room");
		await w.string("video");
		if (v !== Version.DRAFT_20) {
			await w.u62(3n);
			await w.u62(0n);
			await w.u62(5n);
			await w.u62(0n);
		}
		await w.u62(1n); // one parameter
		await w.u62(0x20n); // SUBSCRIBER_PRIORITY
		await w.u8(64);
	}),
);
await add(
	"fetch-joining",
	"hand-built with Writer (FETCH has no @moq/net encoder)",
	frame(0x16, async (w, v) => {
		await w.u62(12n);
		if (v === Version.DRAFT_17) await w.u62(0n);
		await w.u62(2n); // relative joining
		await w.u62(4n);
		if (v !== Version.DRAFT_20) await w.u62(1n);
		await w.u62(0n);
	}),
);
await add(
	"fetch-ok",
	"hand-built with Writer (FETCH_OK has no @moq/net encoder)",
	frame(0x18, async (w) => {
		await w.u8(1);
		await w.u62(20n);
		await w.u62(7n);
		await w.u62(0n); // no parameters
		await w.u62(0x08n); // TIMESCALE property
		await w.u62(90000n);
	}),
);

// PUBLISH as @moq/net's publisher sends it, and TRACK_STATUS.
await add(
	"publish",
	"Publish.encode",
	control(new Publish({ requestId: 5n, trackNamespace: "live/room", trackName: "audio", trackAlias: 2n, groupOrder: 2, contentExists: true, largest: { groupId: 3n, objectId: 1n }, forward: true })),
);
await add(
	"track-status",
	"TrackStatusRequest.encode",
	control(new TrackStatusRequest({ requestId: 14n, trackNamespace: "live", trackName: "video" })),
);

// OBJECT_DATAGRAM: @moq/net 0.3.4 has no IETF datagram encoder, so these are built field by
// field with its Writer after the draft text.
await add("datagram-payload", "hand-built with Writer (no @moq/net encoder)", (v) =>
	capture(v, async (w) => {
		await w.u62(0x00n); // object id and priority present
		await w.u62(1n);
		await w.u62(500n);
		await w.u62(7n);
		await w.u8(3);
		await w.write(enc.encode("datagram payload"));
	}),
);
await add("datagram-status", "hand-built with Writer (no @moq/net encoder)", (v) =>
	capture(v, async (w) => {
		await w.u62(0x2dn); // STATUS | DEFAULT_PRIORITY | ZERO_OBJECT_ID | PROPERTIES
		await w.u62(2n);
		await w.u62(1n);
		await w.u62(2n); // properties length
		await w.u62(0x10n);
		await w.u62(9n);
		await w.u62(0n); // status Normal
	}),
);
await add("datagram-end-of-group", "hand-built with Writer (no @moq/net encoder)", (v) =>
	capture(v, async (w) => {
		await w.u62(0x0an); // END_OF_GROUP | DEFAULT_PRIORITY
		await w.u62(2n);
		await w.u62(8n);
		await w.u62(300n);
		await w.write(enc.encode("last"));
	}),
);

// LOCATION_FILTER values (the raw Bytes of parameter 0x21), from filter.js's encode.
const filters = {
	"filter-next-object": [{ kind: "nextObject" }],
	"filter-unfiltered": [{ kind: "unfiltered" }],
	"filter-relative-0": [{ kind: "relative", groups: 0n }],
	"filter-relative-3": [{ kind: "relative", groups: 3n }, ["20"]],
	"filter-absolute-start": [{ kind: "absolute", startGroup: 1n << 40n, startObject: 2n }],
	"filter-absolute-range": [{ kind: "absolute", startGroup: 5n, startObject: 0n, endGroup: 9n }],
	"filter-absolute-range-object": [{ kind: "absolute", startGroup: 5n, startObject: 1n, endGroup: 300n, endObject: 3n }, ["20"]],
};
for (const [name, [f, versions]] of Object.entries(filters)) {
	await add(name, "Filter.encode", async (v) => Buffer.from(Filter.encode(f, v)).toString("hex"), versions);
}

// PUBLISH_BLOCKED from @moq/net's encoder; SUBSCRIBE_TRACKS (no @moq/net encoder) built
// with its Writer after the draft text.
await add("publish-blocked", "PublishBlocked.encode", control(new SN.PublishBlocked({ suffix: "room", trackName: "chat" })));
await add(
	"subscribe-tracks",
	"hand-built with Writer (SUBSCRIBE_TRACKS has no @moq/net encoder)",
	frame(0x51, async (w, v) => {
		await w.u62(16n);
		await Namespace.encode(w, "live");
		await w.u62(0n);
	}),
	["18", "19", "20"],
);

process.stdout.write(`${JSON.stringify({ generator: "gen_golden.mjs", package: `@moq/net ${pkg.version}`, vectors }, null, "\t")}\n`);
