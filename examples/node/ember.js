// Ember from Node.js, with nothing but @grpc/grpc-js, @grpc/proto-loader and
// the protos: create a volume, attach it and write to it, back it up, restore
// the backup onto a new volume, attach that and check the data came back.
//
//   EMBER_URL=127.0.0.1:8776 EMBER_TOKEN=$(ember token create --project demo) node ember.js
//
// EMBER_URL may list several gateways, separated by commas. gRPC itself then
// moves on from one that cannot be reached: each client's channel holds them
// all, round_robin sends each call to a gateway it is connected to and leaves
// out those it cannot connect to, and a retryPolicy sends a call that ended
// UNAVAILABLE again (to the next gateway), but only the calls in
// SAFE_TO_REPEAT: reads, and the changes this example sends with a
// request_id. A change sent twice without one could be done twice.
//
// EMBER_HOST names this compute host; it must be the volume's storage host,
// as the example uses the "local" transport (the file itself). Prints one
// JSON line with what it did; exits 1 with the gRPC status on failure.
"use strict";

const crypto = require("node:crypto");
const dns = require("node:dns/promises");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { promisify } = require("node:util");

const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const googleProtos = require("google-proto-files");

const PROTOS = process.env.EMBER_PROTOS || path.resolve(__dirname, "..", "..", "protos");
const DATA_BYTES = 1024 * 1024;

const SAFE_TO_REPEAT = [
  ["ember.v1.VolumeService", "GetVolume"],
  ["google.longrunning.Operations", "WaitOperation"],
  // Ember answers a repeated request_id with what the first call did.
  ["ember.v1.VolumeService", "CreateVolume"],
  ["ember.v1.VolumeService", "CreateAttachment"],
  ["ember.v1.BackupService", "CreateBackup"],
  ["ember.v1.BackupService", "RestoreBackup"],
].map(([service, method]) => ({ service, method }));
const SERVICE_CONFIG = {
  loadBalancingConfig: [{ round_robin: {} }],
  methodConfig: [{
    name: SAFE_TO_REPEAT,
    retryPolicy: {
      maxAttempts: 4,
      initialBackoff: "0.2s",
      maxBackoff: "2s",
      backoffMultiplier: 2,
      retryableStatusCodes: ["UNAVAILABLE"],
    },
  }],
};

// One gRPC target for every gateway in EMBER_URL. A list of addresses is an
// "ipv4:" target, which takes IP addresses only: host names are looked up
// here, once (IPv6 gateways would need an "ipv6:[addr]:port,..." target).
async function target(gateways) {
  if (gateways.length === 1) return gateways[0];
  const found = await Promise.all(gateways.map(async (gateway) => {
    const port = gateway.slice(gateway.lastIndexOf(":") + 1);
    const { address } = await dns.lookup(gateway.slice(0, gateway.lastIndexOf(":")), { family: 4 });
    return `${address}:${port}`;
  }));
  return `ipv4:${found.join(",")}`;
}

function load() {
  const files = ["volume.proto", "backup.proto"].map((f) => path.join(PROTOS, "ember", "v1", f));
  const definition = protoLoader.loadSync(files, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [PROTOS, googleProtos.getProtoPath("..")],
  });
  return { definition, api: grpc.loadPackageDefinition(definition) };
}

// Each stub method as a promise that carries the bearer token.
function client(Service, address, credentials, token, options) {
  const stub = new Service(address, credentials, options);
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  const calls = {};
  for (const name of Object.keys(Service.service)) {
    const call = promisify(stub[name].bind(stub));
    calls[name] = (request, seconds = 60) => call(request, metadata, { deadline: Date.now() + seconds * 1000 });
  }
  return calls;
}

class Ember {
  constructor(gateways, address, token) {
    const { definition, api } = load();
    const options = { "grpc.service_config": JSON.stringify(SERVICE_CONFIG) };
    let credentials = grpc.credentials.createInsecure();
    if (process.env.EMBER_TLS_CA) {
      credentials = grpc.credentials.createSsl(fs.readFileSync(process.env.EMBER_TLS_CA));
    }
    if (process.env.EMBER_TLS_CA && gateways.length > 1) {
      // One channel checks every gateway's certificate against one name: the
      // first gateway's host, unless EMBER_TLS_NAME names the one they share.
      const first = gateways[0];
      options["grpc.default_authority"] = process.env.EMBER_TLS_NAME || first.slice(0, first.lastIndexOf(":"));
    }
    this.volumes = client(api.ember.v1.VolumeService, address, credentials, token, options);
    this.backups = client(api.ember.v1.BackupService, address, credentials, token, options);
    this.operations = client(api.google.longrunning.Operations, address, credentials, token, options);
    // An operation's response is an Any: decode it as the RPC that returns that type would.
    this.decoders = {
      "ember.v1.Volume": definition["ember.v1.VolumeService"].GetVolume.responseDeserialize,
      "ember.v1.Backup": definition["ember.v1.BackupService"].GetBackup.responseDeserialize,
    };
  }

  // Waits for the operation (WaitOperation returns early at progress steps),
  // then gives its response decoded, or throws its error.
  async done(operation, seconds = 120) {
    const deadline = Date.now() + seconds * 1000;
    while (!operation.done) {
      if (Date.now() > deadline) throw new Error(`${operation.name} is not done after ${seconds}s`);
      operation = await this.operations.WaitOperation({ name: operation.name, timeout: { seconds: 30 } }, 40);
    }
    if (operation.result === "error") {
      const error = new Error(operation.error.message);
      error.code = operation.error.code;
      throw error;
    }
    const { type_url: typeUrl, value } = operation.response;
    const decode = this.decoders[typeUrl.split("/").pop()];
    if (!decode) throw new Error(`no decoder for ${typeUrl}`);
    return decode(value);
  }

  // Attaches with the local transport, runs use(path), and detaches again.
  async withAttached(volumeId, host, use) {
    const attachment = await this.volumes.CreateAttachment({
      volume_id: volumeId,
      instance_id: "node-example",
      connector: { host, transports: ["local"] },
      request_id: crypto.randomUUID(),
    });
    try {
      await this.volumes.CompleteAttachment({ attachment_id: attachment.id });
      return await use(attachment.connection_info.data.device_path);
    } finally {
      await this.volumes.DeleteAttachment({ attachment_id: attachment.id });
    }
  }
}

function sha256(buffer) {
  return crypto.createHash("sha256").update(buffer).digest("hex");
}

async function main() {
  const token = process.env.EMBER_TOKEN;
  if (!token) throw new Error("set EMBER_TOKEN (ember token create --project demo)");
  const gateways = (process.env.EMBER_URL || "127.0.0.1:8776").split(",").map((g) => g.trim()).filter(Boolean);
  const ember = new Ember(gateways, await target(gateways), token);
  const host = process.env.EMBER_HOST || os.hostname();

  const volume = await ember.done(
    await ember.volumes.CreateVolume({ size_gb: 1, name: "from-node", request_id: crypto.randomUUID() }),
  );
  const written = crypto.randomBytes(DATA_BYTES);
  await ember.withAttached(volume.id, host, async (device) => {
    const fd = fs.openSync(device, "r+");
    try {
      fs.writeSync(fd, written, 0, written.length, 0);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });

  const backup = await ember.done(await ember.backups.CreateBackup({
    volume_id: volume.id, name: "node-backup", request_id: crypto.randomUUID(),
  }));
  const restored = await ember.done(
    await ember.backups.RestoreBackup({
      backup_id: backup.id, name: "restored-by-node", request_id: crypto.randomUUID(),
    }),
  );
  const read = await ember.withAttached(restored.id, host, async (device) => {
    const buffer = Buffer.alloc(DATA_BYTES);
    const fd = fs.openSync(device, "r");
    try {
      fs.readSync(fd, buffer, 0, DATA_BYTES, 0);
    } finally {
      fs.closeSync(fd);
    }
    return buffer;
  });
  const after = await ember.volumes.GetVolume({ id: restored.id });
  console.log(JSON.stringify({
    volume: volume.id,
    backup: backup.id,
    backup_status: backup.status,
    restored: restored.id,
    restored_status: after.status,
    written_sha256: sha256(written),
    restored_sha256: sha256(read),
  }));
  if (!read.equals(written)) throw new Error("the restored volume does not hold the data written before the backup");
}

main().catch((error) => {
  const code = error.code !== undefined ? ` (gRPC status ${error.code})` : "";
  console.error(`error${code}: ${error.details || error.message}`);
  process.exit(1);
});
