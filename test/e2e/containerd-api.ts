// containerd's own API, for the one call `ctr` cannot make safely: a snapshot
// view that the garbage collector leaves alone while the test reads it.
// (`ctr snapshots view` creates an unreferenced view that GC may remove at
// any time; `ctr images mount` in 1.6 ignores --snapshotter and unpacks for
// overlayfs instead.)
//
// Field numbers from containerd v1.6 api/services/snapshots/v1/snapshots.proto
// and api/types/mount.proto:
//
//   message ViewSnapshotRequest  { string snapshotter = 1; string key = 2;
//                                  string parent = 3; map<string,string> labels = 4; }
//   message ViewSnapshotResponse { repeated containerd.types.Mount mounts = 1; }
//   message Mount                { string type = 1; string source = 2;
//                                  string target = 3; repeated string options = 4; }
//   message RemoveSnapshotRequest{ string snapshotter = 1; string key = 2; }
//
// The namespace travels in the `containerd-namespace` gRPC metadata header.

import { mapField, parseMessage, stringField, strings, unaryCall } from './grpc.ts';

export interface Mount {
  type: string;
  source: string;
  options: string[];
}

const SNAPSHOTS = '/containerd.services.snapshots.v1.Snapshots';

/** A read-only view of `parent`, labelled as a GC root so that it lives until removed. */
export async function viewSnapshot(socket: string, namespace: string, snapshotter: string, key: string, parent: string): Promise<Mount[]> {
  const request = Buffer.concat([
    stringField(1, snapshotter),
    stringField(2, key),
    stringField(3, parent),
    mapField(4, { 'containerd.io/gc.root': new Date().toISOString() }),
  ]);
  const reply = await unaryCall(socket, `${SNAPSHOTS}/View`, request, {
    timeoutMs: 30_000,
    metadata: { 'containerd-namespace': namespace },
  });
  return (parseMessage(reply).get(1) ?? []).filter(Buffer.isBuffer).map((raw) => {
    const m = parseMessage(raw);
    return { type: strings(m, 1)[0] ?? '', source: strings(m, 2)[0] ?? '', options: strings(m, 4) };
  });
}

export async function removeSnapshot(socket: string, namespace: string, snapshotter: string, key: string): Promise<void> {
  await unaryCall(socket, `${SNAPSHOTS}/Remove`, Buffer.concat([stringField(1, snapshotter), stringField(2, key)]), {
    timeoutMs: 30_000,
    metadata: { 'containerd-namespace': namespace },
  });
}
