/**
 * Puts containerd in the state it is in while it unpacks a pull: a lease
 * holding the image's blobs (manifest, config, layers). For the payload-less
 * lookup's benchmark, which imports its images with --no-unpack:
 *
 *   node test/bench/hold-lease.ts SOCKET NAMESPACE LEASE_ID DIGEST...
 */
import { lenField, stringField, unaryCall } from '../e2e/grpc.ts';

const [socket, namespace, lease, ...digests] = process.argv.slice(2);
if (!socket || !namespace || !lease || digests.length === 0) throw new Error('usage: hold-lease.ts SOCKET NAMESPACE LEASE_ID DIGEST...');
const LEASES = '/containerd.services.leases.v1.Leases';
const options = { metadata: { 'containerd-namespace': namespace }, timeoutMs: 10_000 };
// CreateRequest { id = 1 }; AddResourceRequest { id = 1; Resource resource = 2 { id = 1; type = 2 } }
await unaryCall(socket, `${LEASES}/Create`, stringField(1, lease), options);
for (const digest of digests) {
  await unaryCall(socket, `${LEASES}/AddResource`, Buffer.concat([stringField(1, lease), lenField(2, Buffer.concat([stringField(1, digest), stringField(2, 'content')]))]), options);
}
