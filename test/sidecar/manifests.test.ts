/**
 * examples/kubernetes and the Dockerfile agree with each other and with the sidecar's flags:
 * the manifests parse, kinds/selectors/labels line up, ports and probe paths match what
 * `realip sidecar` listens on, and the image runs the CLI as a non-root user.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseSidecarArgs } from '../../src/cli/sidecar.js';
import { ADMIN_PATHS, SIDECAR_DEFAULTS } from '../../src/sidecar/options.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const K8S = join(ROOT, 'examples/kubernetes');
type Obj = Record<string, any>;

const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml'));
const docs: Array<{ file: string; doc: Obj }> = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return { file, doc: d.toJS() as Obj };
  }),
);
const byKind = (kind: string) => docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);
const deployment = byKind('Deployment')[0]!;
const pod = deployment.spec.template.spec as Obj;
const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
const sidecar = (pod.initContainers as Obj[]).find((c) => c.name === 'realip')!;
const app = (pod.containers as Obj[]).find((c) => c.name === 'app')!;
const parsed = parseSidecarArgs(sidecar.args, {});
if (parsed.kind !== 'ok') throw new Error(`sidecar args do not parse: ${JSON.stringify(parsed)}`);
const opts = parsed.options;

function subset(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
function portNumber(container: Obj, ref: string | number): number | undefined {
  if (typeof ref === 'number') return ref;
  return (container.ports as Obj[] | undefined)?.find((p) => p.name === ref)?.containerPort;
}

describe('Kubernetes manifests', () => {
  it('every document has apiVersion, kind and a name; kustomization lists every file', () => {
    expect(docs.length).toBeGreaterThanOrEqual(6);
    for (const { file, doc } of docs) {
      expect(doc.apiVersion, file).toBeTruthy();
      expect(doc.kind, file).toBeTruthy();
      if (doc.kind !== 'Kustomization') expect(doc.metadata?.name, file).toBeTruthy();
    }
    const k = byKind('Kustomization')[0]!;
    expect([...k.resources].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml').sort());
    expect(byKind('Deployment')).toHaveLength(1);
    expect(byKind('ConfigMap')).toHaveLength(1);
    expect(byKind('Service')).toHaveLength(2);
  });

  it('selectors match the pod labels (Deployment, Services, PDB, spread and anti-affinity)', () => {
    expect(subset(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
    for (const svc of byKind('Service'))
      expect(subset(svc.spec.selector, podLabels), svc.metadata.name).toBe(true);
    for (const pdb of byKind('PodDisruptionBudget'))
      expect(subset(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
    const spread = pod.topologySpreadConstraints as Obj[];
    expect(spread.map((s) => s.topologyKey)).toEqual(
      expect.arrayContaining(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']),
    );
    for (const s of spread) expect(subset(s.labelSelector.matchLabels, podLabels)).toBe(true);
    const anti = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution as Obj[];
    expect(anti.length).toBeGreaterThan(0);
    for (const a of anti) {
      expect(a.podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
      expect(subset(a.podAffinityTerm.labelSelector.matchLabels, podLabels)).toBe(true);
    }
  });

  it('realip is a native sidecar: an init container with restartPolicy Always', () => {
    expect(sidecar.restartPolicy).toBe('Always');
    expect((pod.containers as Obj[]).some((c) => c.name === 'realip')).toBe(false);
  });

  it('container ports and probes match the sidecar flags and admin paths', () => {
    const listenPort = opts.listen?.port ?? SIDECAR_DEFAULTS.listen.port;
    const adminPort = opts.adminListen ? opts.adminListen.port : SIDECAR_DEFAULTS.adminListen.port;
    expect(portNumber(sidecar, 'http')).toBe(listenPort);
    expect(portNumber(sidecar, 'admin')).toBe(adminPort);
    const probes = ['startupProbe', 'readinessProbe', 'livenessProbe'].map((p) => sidecar[p] as Obj);
    for (const probe of probes) {
      expect(portNumber(sidecar, probe.httpGet.port)).toBe(adminPort);
      expect(Object.values(ADMIN_PATHS)).toContain(probe.httpGet.path);
    }
    expect(sidecar.readinessProbe.httpGet.path).toBe(ADMIN_PATHS.readyz);
    expect(sidecar.livenessProbe.httpGet.path).toBe(ADMIN_PATHS.healthz);
    expect(deployment.spec.template.metadata.annotations['prometheus.io/port']).toBe(String(adminPort));
    expect(deployment.spec.template.metadata.annotations['prometheus.io/path']).toBe(ADMIN_PATHS.metrics);
  });

  it('Services target the public listener, never the admin port; the public one keeps source IPs', () => {
    for (const svc of byKind('Service')) {
      for (const p of svc.spec.ports as Obj[]) {
        expect(portNumber(sidecar, p.targetPort), svc.metadata.name).toBe(opts.listen?.port ?? 8080);
      }
    }
    const pub = byKind('Service').find((s) => s.spec.type === 'LoadBalancer')!;
    expect(pub.spec.externalTrafficPolicy).toBe('Local');
    const internal = byKind('Service').find((s) => s.spec.type === 'ClusterIP')!;
    expect(internal).toBeDefined();
  });

  it('the app listens on loopback at the upstream port and trusts only loopback + x-real-ip', () => {
    const upstream = new URL(String(opts.upstream));
    const env = Object.fromEntries((app.env as Obj[]).map((e) => [e.name, e.value]));
    expect(upstream.hostname).toBe('127.0.0.1');
    expect(env.HOST).toBe('127.0.0.1');
    expect(env.PORT).toBe(upstream.port);
    expect(env.REALIP_TRUSTED_PROXIES).toBe('loopback');
    expect(env.REALIP_HEADER).toBe('x-real-ip');
    expect(app.ports ?? []).toEqual([]); // nothing exposed besides the sidecar
  });

  it('the policy ConfigMap is mounted where --config points', () => {
    const cm = byKind('ConfigMap')[0]!;
    const vol = (pod.volumes as Obj[]).find((v) => v.configMap?.name === cm.metadata.name)!;
    expect(vol).toBeDefined();
    const mount = (sidecar.volumeMounts as Obj[]).find((m) => m.name === vol.name)!;
    expect(dirname(parsed.config!)).toBe(mount.mountPath);
    const key = parsed.config!.slice(mount.mountPath.length + 1);
    expect(Object.keys(cm.data)).toContain(key);
    expect(parseAllDocuments(cm.data[key])[0]!.errors).toEqual([]);
  });

  it('grace period covers the app preStop plus the sidecar delay and drain', () => {
    const delay = (opts.shutdownDelayMs ?? SIDECAR_DEFAULTS.shutdownDelayMs) / 1000;
    const drain = (opts.drainTimeoutMs ?? SIDECAR_DEFAULTS.drainTimeoutMs) / 1000;
    const preStop = app.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + delay + drain);
  });

  it('runs as the image user, non-root, read-only', () => {
    const dockerUser = /^USER\s+(\d+)/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))![1];
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(String(sidecar.securityContext.runAsUser)).toBe(dockerUser);
    expect(sidecar.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(sidecar.securityContext.allowPrivilegeEscalation).toBe(false);
  });

  it('the image tag is the package version', () => {
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
    expect(sidecar.image).toBe(`ghcr.io/realip/realip:${version}`);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('every COPY source from the build context exists and is not excluded by .dockerignore', () => {
    const copies = lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from='));
    expect(copies.length).toBeGreaterThan(0);
    for (const line of copies) {
      const parts = line.split(/\s+/).slice(1);
      const sources = parts.slice(0, -1);
      for (const src of sources) {
        expect(existsSync(join(ROOT, src)), src).toBe(true);
        // .dockerignore is an allow-list: "*" then "!path" entries
        expect(ignore[0]).toBe('*');
        expect(
          ignore.some((i) => i === `!${src}` || i === `!${src}/**`),
          `${src} allowed in .dockerignore`,
        ).toBe(true);
      }
    }
  });

  it('multi-stage, COPY --from names a stage, runs as a numeric non-root user', () => {
    const stages = lines.filter((l) => l.startsWith('FROM ')).map((l) => / AS (\S+)/i.exec(l)?.[1]);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const l of lines.filter((x) => x.includes('--from='))) {
      expect(stages).toContain(/--from=(\S+)/.exec(l)![1]);
    }
    const users = lines.filter((l) => l.startsWith('USER '));
    const last = users[users.length - 1]!;
    const uid = /^USER\s+(\d+)/.exec(last)?.[1];
    expect(uid).toBeDefined();
    expect(Number(uid)).toBeGreaterThan(0);
    // USER comes after the last RUN that needs root
    expect(lines.lastIndexOf(last)).toBeGreaterThan(lines.map((l) => l.startsWith('RUN ')).lastIndexOf(true));
  });

  it('the entrypoint runs the built CLI `realip sidecar`; EXPOSE matches the default ports', () => {
    const entry = lines.find((l) => l.startsWith('ENTRYPOINT '))!;
    expect(JSON.parse(entry.slice('ENTRYPOINT '.length))).toEqual(['node', 'dist/cli/main.js', 'sidecar']);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.bin.realip).toBe('./dist/cli/main.js');
    const tsup = readFileSync(join(ROOT, 'tsup.config.ts'), 'utf8');
    expect(tsup).toContain("'cli/main': 'src/cli/main.ts'");
    const exposed = lines
      .find((l) => l.startsWith('EXPOSE '))!
      .split(/\s+/)
      .slice(1)
      .map(Number);
    expect(exposed).toEqual([SIDECAR_DEFAULTS.listen.port, SIDECAR_DEFAULTS.adminListen.port]);
    const cmd = JSON.parse(lines.find((l) => l.startsWith('CMD '))!.slice(4));
    expect(parseSidecarArgs(cmd, {}).kind).toBe('ok');
  });
});
