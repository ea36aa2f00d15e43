/**
 * deploy/kubernetes renders with `kubectl kustomize` (Debian's kubernetes-client, or any
 * newer kubectl) and hangs together: probes on /healthz, a grace period that covers the
 * server's drain, the shared ReadWriteMany volume on /data, a Service and an Ingress that
 * point at what exists, an autoscaler on a metric the server really exports, and a
 * models.json the registry accepts. The CUDA overlay changes the image, asks for a GPU
 * and runs the ONNX models on CUDA, and leaves everything else as it was.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ModelRegistry, parseDuration } from '@talkies/core';
import { ServerMetrics } from '../packages/server/src/metrics.js';

const run = promisify(execFile);
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const kubectl = process.env.TALKIES_KUBECTL ?? 'kubectl';

async function kubectlWorks(): Promise<boolean> {
  try {
    await run(kubectl, ['version', '--client'], { timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

const available = await kubectlWorks();
if (!available) {
  console.warn("kubernetes manifest test skipped: no kubectl; install Debian's kubernetes-client (scripts/up does) or set TALKIES_KUBECTL");
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Manifest = any;

const rendered = new Map<string, Promise<Map<string, Manifest>>>();

/** Each directory is rendered once per run. */
function render(directory: string): Promise<Map<string, Manifest>> {
  let manifests = rendered.get(directory);
  if (!manifests) rendered.set(directory, (manifests = renderNow(directory)));
  return manifests;
}

async function renderNow(directory: string): Promise<Map<string, Manifest>> {
  const { stdout } = await run(kubectl, ['kustomize', join(root, 'deploy/kubernetes', directory)], { timeout: 60_000 });
  const manifests = new Map<string, Manifest>();
  for (const document of parseAllDocuments(stdout)) {
    const manifest = document.toJS() as Manifest;
    if (manifest) manifests.set(`${manifest.kind}/${manifest.metadata.name}`, manifest);
  }
  return manifests;
}

function container(manifests: Map<string, Manifest>): Manifest {
  return manifests.get('Deployment/talkies').spec.template.spec.containers[0];
}

function environment(manifests: Map<string, Manifest>): Record<string, string> {
  return Object.fromEntries(
    (container(manifests).env as { name: string; value?: string }[]).filter((entry) => entry.value !== undefined).map((entry) => [entry.name, entry.value!]),
  );
}

describe.skipIf(!available)('Kubernetes manifests', () => {
  it('render, with every kind the deployment needs', async () => {
    const manifests = await render('base');
    expect([...manifests.keys()].sort()).toEqual([
      'ConfigMap/talkies-models',
      'Deployment/talkies',
      'HorizontalPodAutoscaler/talkies',
      'Ingress/talkies',
      'PersistentVolumeClaim/talkies-data',
      'Service/talkies',
    ]);
  });

  it('run several replicas on one ReadWriteMany volume for /data', async () => {
    const manifests = await render('base');
    const deployment = manifests.get('Deployment/talkies');
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    const claim = manifests.get('PersistentVolumeClaim/talkies-data');
    expect(claim.spec.accessModes).toEqual(['ReadWriteMany']);
    const pod = deployment.spec.template.spec;
    const dataVolume = pod.volumes.find((volume: Manifest) => volume.persistentVolumeClaim?.claimName === 'talkies-data');
    expect(container(manifests).volumeMounts).toContainEqual({ name: dataVolume.name, mountPath: '/data' });
    expect(environment(manifests).TALKIES_DATA_DIR).toBe('/data');
    // The catalog comes from the ConfigMap, and the registry accepts it.
    const modelsVolume = pod.volumes.find((volume: Manifest) => volume.configMap?.name === 'talkies-models');
    const mount = container(manifests).volumeMounts.find((entry: Manifest) => entry.name === modelsVolume.name);
    expect(environment(manifests).TALKIES_MODELS_FILE).toBe(`${mount.mountPath}/models.json`);
    const registry = ModelRegistry.fromJson(JSON.parse(manifests.get('ConfigMap/talkies-models').data['models.json']));
    expect(registry.slugs).toContain('espeak');
    // Not root, nothing written outside /data and /tmp.
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
    expect(container(manifests).securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(container(manifests).volumeMounts.map((entry: Manifest) => entry.mountPath)).toContain('/tmp');
  });

  it('probe /healthz and give the server time to drain before SIGKILL', async () => {
    const manifests = await render('base');
    const server = container(manifests);
    const port = server.ports.find((entry: Manifest) => entry.name === 'http');
    expect(port.containerPort).toBe(Number(environment(manifests).TALKIES_PORT));
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      expect(server[probe].httpGet).toEqual({ path: '/healthz', port: 'http' });
    }
    const drainSeconds = parseDuration(environment(manifests).TALKIES_SHUTDOWN_TIMEOUT, 'TALKIES_SHUTDOWN_TIMEOUT');
    const preStopSeconds = Number(server.lifecycle.preStop.exec.command.at(-1));
    const grace = manifests.get('Deployment/talkies').spec.template.spec.terminationGracePeriodSeconds;
    expect(grace).toBeGreaterThan(drainSeconds + preStopSeconds);
  });

  it('route Service and Ingress to the pods, by model', async () => {
    const manifests = await render('base');
    const podLabels = manifests.get('Deployment/talkies').spec.template.metadata.labels;
    const service = manifests.get('Service/talkies');
    for (const [key, value] of Object.entries(service.spec.selector)) expect(podLabels[key]).toBe(value);
    expect(service.spec.ports[0].targetPort).toBe('http');
    const ingress = manifests.get('Ingress/talkies');
    expect(ingress.metadata.annotations['nginx.ingress.kubernetes.io/upstream-hash-by']).toBe('$http_x_talkies_model');
    const paths = ingress.spec.rules[0].http.paths as Manifest[];
    for (const path of paths) {
      expect(path.backend.service.name).toBe('talkies');
      expect(service.spec.ports.map((entry: Manifest) => entry.name)).toContain(path.backend.service.port.name);
    }
    expect(paths.map((path) => path.path)).toEqual(expect.arrayContaining(['/v1', '/']));
    // Prometheus scrapes the pods; /metrics stays off the public route.
    expect(paths.some((path) => '/metrics'.startsWith(path.path) && path.pathType === 'Prefix' && path.path !== '/')).toBe(false);
  });

  it('autoscale on a metric the server exports', async () => {
    const manifests = await render('base');
    const autoscaler = manifests.get('HorizontalPodAutoscaler/talkies');
    expect(autoscaler.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'talkies' });
    expect(autoscaler.spec.minReplicas).toBeGreaterThanOrEqual(2);
    const name = autoscaler.spec.metrics[0].pods.metric.name as string;
    const metrics = new ServerMetrics(['espeak'], () => '/nonexistent');
    expect(metrics.registry.getSingleMetric(name)).toBeDefined();
  });

  it('the CUDA overlay swaps the image, asks for a GPU and runs the ONNX models on CUDA', async () => {
    const base = await render('base');
    const cuda = await render('cuda');
    expect([...cuda.keys()].sort()).toEqual([...base.keys()].sort());
    expect(container(base).image).toBe('talkies:latest');
    expect(container(cuda).image).toBe('talkies:cuda');
    expect(container(cuda).resources.limits['nvidia.com/gpu']).toBe(1);
    expect(cuda.get('Deployment/talkies').spec.template.spec.tolerations).toContainEqual({
      key: 'nvidia.com/gpu',
      operator: 'Exists',
      effect: 'NoSchedule',
    });
    // The patch adds to the base: probes, volumes and the rest of the environment stay.
    expect(container(cuda).readinessProbe).toEqual(container(base).readinessProbe);
    expect(container(cuda).volumeMounts).toEqual(container(base).volumeMounts);
    expect(environment(cuda)).toMatchObject({ ...environment(base), TALKIES_MAX_LOADED_MODELS: '2' });
    const registry = ModelRegistry.fromJson(JSON.parse(cuda.get('ConfigMap/talkies-models').data['models.json']));
    const onnx = registry.slugs.map((slug) => registry.get(slug)!).filter((entry) => entry.executor !== 'espeak');
    expect(onnx.length).toBeGreaterThan(0);
    for (const entry of onnx) expect(JSON.stringify(entry.engineOptions)).toMatch(/"cuda"/);
    for (const key of ['Service/talkies', 'Ingress/talkies', 'PersistentVolumeClaim/talkies-data', 'HorizontalPodAutoscaler/talkies']) {
      const withoutLabels = (manifest: Manifest) => ({ ...manifest, metadata: { ...manifest.metadata, labels: undefined } });
      expect(withoutLabels(cuda.get(key)).spec).toEqual(withoutLabels(base.get(key)).spec);
    }
  });
});
