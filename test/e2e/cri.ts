// A minimal CRI image client: what the kubelet calls to pull an image.
//
// Field numbers are those of kubernetes/cri-api pkg/apis/runtime/v1/api.proto
// (package runtime.v1):
//
//   service ImageService { rpc ListImages(...); rpc PullImage(...); ... }
//   message PullImageRequest   { ImageSpec image = 1; AuthConfig auth = 2;
//                                PodSandboxConfig sandbox_config = 3; }
//   message ImageSpec          { string image = 1; ... }
//   message PodSandboxConfig   { PodSandboxMetadata metadata = 1; ... }
//   message PodSandboxMetadata { string name = 1; string uid = 2;
//                                string namespace = 3; uint32 attempt = 4; }
//   message PullImageResponse  { string image_ref = 1; }
//   message ListImagesRequest  { ImageFilter filter = 1; }
//   message ListImagesResponse { repeated Image images = 1; }
//   message Image              { string id = 1; repeated string repo_tags = 2; ... }

import { lenField, parseMessage, stringField, strings, unaryCall } from './grpc.ts';

export { GrpcError } from './grpc.ts';

export interface PodIdentity {
  name: string;
  uid: string;
  namespace: string;
}

export function encodePullImageRequest(image: string, pod?: PodIdentity): Buffer {
  const parts = [lenField(1, stringField(1, image))];
  if (pod) {
    const metadata = Buffer.concat([stringField(1, pod.name), stringField(2, pod.uid), stringField(3, pod.namespace)]);
    parts.push(lenField(3, lenField(1, metadata)));
  }
  return Buffer.concat(parts);
}

/**
 * CRI PullImage, as the kubelet calls it (image plus the pod's sandbox
 * metadata). Resolves with image_ref; rejects with GrpcError carrying
 * containerd's message, i.e. what `kubectl describe pod` would show.
 */
export async function pullImage(socket: string, image: string, opts: { pod?: PodIdentity; timeoutMs?: number } = {}): Promise<string> {
  const reply = await unaryCall(socket, '/runtime.v1.ImageService/PullImage', encodePullImageRequest(image, opts.pod), {
    timeoutMs: opts.timeoutMs ?? 120_000,
  });
  return strings(parseMessage(reply), 1)[0] ?? '';
}

/** CRI ListImages (no filter): image id -> repo tags. */
export async function listImages(socket: string, timeoutMs = 10_000): Promise<Map<string, string[]>> {
  const reply = await unaryCall(socket, '/runtime.v1.ImageService/ListImages', Buffer.alloc(0), { timeoutMs });
  const images = new Map<string, string[]>();
  for (const raw of parseMessage(reply).get(1) ?? []) {
    if (!Buffer.isBuffer(raw)) continue;
    const image = parseMessage(raw);
    images.set(strings(image, 1)[0] ?? '', strings(image, 2));
  }
  return images;
}
