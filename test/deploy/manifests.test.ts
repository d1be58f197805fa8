import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { authConfigSchema } from "../../src/config/sections/auth.js";
import { configFromEnv, loadConfig } from "../../src/config/load.js";
import type { PrismConfig } from "../../src/config/schema.js";
import { loadApiKeys } from "../../src/server/plugins/auth-keys.js";
import { GatewayMetrics } from "../../src/telemetry/metrics.js";
import { deployDir, kubectlAvailable, renderKubectl, renderOwn, type K8sObject } from "./render.js";

/** Validates an object against the Kubernetes (or CRD) OpenAPI schema of its kind; throws with every error. */
const VALIDATORS: Record<string, (o: K8sObject) => void> = {
  "v1/ServiceAccount": (o) => new ServiceAccount(o as never).validate(),
  "v1/ConfigMap": (o) => new ConfigMap(o as never).validate(),
  "v1/Secret": (o) => new Secret(o as never).validate(),
  "v1/PersistentVolumeClaim": (o) => new PersistentVolumeClaim(o as never).validate(),
  "v1/Service": (o) => new Service(o as never).validate(),
  "apps/v1/Deployment": (o) => new Deployment(o as never).validate(),
  "policy/v1/PodDisruptionBudget": (o) => new PodDisruptionBudget(o as never).validate(),
  "keda.sh/v1alpha1/ScaledObject": (o) => new ScaledObject(o as never).validate(),
  "monitoring.coreos.com/v1/ServiceMonitor": (o) => new ServiceMonitor(o as never).validate(),
};

/** PRISM_* variables read by modules directly rather than through the config schema. */
const MODULE_ENV = new Set(["PRISM_CONFIG", "PRISM_API_KEYS", "PRISM_ADMIN_KEYS", "PRISM_DATABASE_URL"]);

const hasKubectl = kubectlAvailable();
const render = (overlay: string) => (hasKubectl ? renderKubectl : renderOwn)(join(deployDir, "overlays", overlay));

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: { name: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  startupProbe?: { httpGet: { path: string; port: string | number }; periodSeconds: number; failureThreshold: number };
  readinessProbe?: { httpGet: { path: string; port: string | number } };
  livenessProbe?: { httpGet: { path: string; port: string | number } };
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
}

function find(objects: K8sObject[], kind: string): K8sObject {
  const o = objects.find((x) => x.kind === kind);
  if (!o) throw new Error(`no ${kind} rendered`);
  return o;
}

function gateway(objects: K8sObject[]) {
  const deployment = find(objects, "Deployment") as unknown as {
    spec: {
      template: {
        spec: {
          terminationGracePeriodSeconds: number;
          containers: Container[];
          initContainers: Container[];
          volumes: { name: string; configMap?: { name: string } }[];
        };
      };
    };
  };
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c) => c.name === "gateway");
  if (!container) throw new Error("no gateway container");
  return { pod, container };
}

/** The config the pod would run with: the ConfigMap's file plus the container's literal env, through the real loader. */
function effectiveConfig(objects: K8sObject[], container: Container): PrismConfig {
  const configMap = find(objects, "ConfigMap") as unknown as { data: Record<string, string> };
  const dir = mkdtempSync(join(tmpdir(), "prism-deploy-"));
  const file = join(dir, "prism.yaml");
  writeFileSync(file, configMap.data["prism.yaml"] ?? "");
  const env: NodeJS.ProcessEnv = {};
  for (const e of container.env ?? []) if (e.value !== undefined && e.name.startsWith("PRISM_")) env[e.name] = e.value;
  delete env.PRISM_CONFIG;
  return loadConfig({ file, env });
}

describe.each(["cpu", "cuda"])("deploy/overlays/%s", (overlay) => {
  const objects = render(overlay);

  it("renders the expected objects, each valid against its Kubernetes/CRD schema", () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(
      [
        "ConfigMap",
        "Deployment",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "ScaledObject",
        "Secret",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
      ].sort(),
    );
    for (const o of objects) {
      const validate = VALIDATORS[`${o.apiVersion}/${o.kind}`];
      expect(validate, `${o.apiVersion}/${o.kind} has a validator`).toBeDefined();
      expect(() => validate?.(o), `${o.kind}/${o.metadata.name}`).not.toThrow();
    }
  });

  it.runIf(hasKubectl)("matches the project's own renderer (the fallback where kubectl is missing)", () => {
    const own = renderOwn(join(deployDir, "overlays", overlay));
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
    const byKey = (list: K8sObject[]) => Object.fromEntries(list.map((o) => [key(o), o]));
    expect(byKey(own)).toEqual(byKey(objects));
  });

  it("carries a config the real schema accepts, and only env vars the gateway reads", () => {
    const { container } = gateway(objects);
    const config = effectiveConfig(objects, container);
    expect(config.auth.required).toBe(true);
    expect(config.telemetry.logContent).toBe(false);

    const env: NodeJS.ProcessEnv = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? "x"]));
    const mapped = configFromEnv(env);
    expect(mapped.problems).toEqual([]);
    const mappedNames = new Set(
      Object.entries(mapped.value).flatMap(([section, fields]) =>
        Object.keys(fields).map((f) => `PRISM_${section.toUpperCase()}_${f.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()}`),
      ),
    );
    const unread = Object.keys(env).filter(
      (n) => n.startsWith("PRISM_") && !MODULE_ENV.has(n) && !mappedNames.has(n),
    );
    expect(unread).toEqual([]);
  });

  it("passes the A/B PostgreSQL URL from the Secret under the name the A/B store reads", () => {
    const { container } = gateway(objects);
    const db = container.env?.find((e) => e.name === "PRISM_DATABASE_URL");
    expect(db?.valueFrom).toEqual({ secretKeyRef: { name: "prism-gateway-secrets", key: "database-url" } });
    expect(readFileSync(join(deployDir, "..", "src", "ab", "open-store.ts"), "utf8")).toContain("PRISM_DATABASE_URL");
    const secret = find(objects, "Secret") as unknown as { stringData: Record<string, string> };
    expect(secret.stringData["database-url"]).toMatch(/^postgres(ql)?:\/\//);
  });

  it("probes the server's real routes on its configured port, with a drain-sized grace period", () => {
    const { pod, container } = gateway(objects);
    const config = effectiveConfig(objects, container);
    const http = container.ports?.find((p) => p.name === "http");
    expect(http?.containerPort).toBe(config.server.port);
    expect(container.startupProbe?.httpGet).toEqual({ path: "/health", port: "http" });
    expect(container.readinessProbe?.httpGet).toEqual({ path: "/ready", port: "http" });
    expect(container.livenessProbe?.httpGet.port).toBe("http");
    // Long startup budget for model loads (≥ 5 minutes).
    const startup = container.startupProbe;
    expect((startup?.periodSeconds ?? 0) * (startup?.failureThreshold ?? 0)).toBeGreaterThanOrEqual(300);
    const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + config.engine.drainTimeoutMs / 1000 + 5);
    expect(container.resources?.limits?.memory).toBeDefined();
    expect(container.resources?.requests?.cpu).toBeDefined();
  });

  it("mounts the model and adapters where the image expects them, filled by the CLI's pull", () => {
    const { pod, container } = gateway(objects);
    const mounts = Object.fromEntries((container.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    expect(mounts["/app/models"]?.name).toBe("models");
    expect(mounts["/app/adapters"]?.name).toBe("models");
    expect(mounts["/etc/prism/prism.yaml"]?.name).toBe("config");
    const init = pod.initContainers.find((c) => c.name === "fetch-model");
    expect(init?.args?.slice(0, 1)).toEqual(["pull"]);
    expect(init?.args).toContain("/app/models");
    expect(init?.image).toBe(container.image);
  });

  it("scales on the queue-depth gauge the gateway really exports, and is scraped on the Service's port", () => {
    const scaled = find(objects, "ScaledObject") as unknown as {
      spec: { scaleTargetRef: { name: string }; minReplicaCount: number; triggers: { type: string; metadata: { query: string } }[] };
    };
    expect(scaled.spec.scaleTargetRef.name).toBe(find(objects, "Deployment").metadata.name);
    const trigger = scaled.spec.triggers[0];
    expect(trigger?.type).toBe("prometheus");
    const names = trigger?.metadata.query.match(/prism_[a-z_]+/g) ?? [];
    expect(names).toContain("prism_queue_depth");
    const registry = new GatewayMetrics().registry;
    for (const name of names) expect(registry.getSingleMetric(name), name).toBeDefined();

    const service = find(objects, "Service") as unknown as { metadata: { name: string }; spec: { ports: { name: string }[] } };
    const monitor = find(objects, "ServiceMonitor") as unknown as {
      spec: { endpoints: { port: string; path: string }[]; selector: { matchLabels: Record<string, string> } };
    };
    expect(service.spec.ports.map((p) => p.name)).toContain(monitor.spec.endpoints[0]?.port);
    expect(monitor.spec.endpoints[0]?.path).toBe("/metrics");
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) expect(find(objects, "Service").metadata.labels?.[k]).toBe(v);
    expect(trigger?.metadata.query).toContain(`service="${service.metadata.name}"`);

    const pdb = find(objects, "PodDisruptionBudget") as unknown as { spec: { maxUnavailable: number } };
    expect(scaled.spec.minReplicaCount).toBeGreaterThan(pdb.spec.maxUnavailable);
  });

  it("ships a key file the gateway's key loader accepts", async () => {
    const secret = find(objects, "Secret") as unknown as { stringData: Record<string, string> };
    const dir = mkdtempSync(join(tmpdir(), "prism-deploy-keys-"));
    const file = join(dir, "keys.yaml");
    writeFileSync(file, secret.stringData["keys.yaml"] ?? "");
    const store = await loadApiKeys(authConfigSchema.parse({ keysFile: file, required: true }), {});
    expect(store.size).toBeGreaterThan(0);
    expect(parseYaml(secret.stringData["keys.yaml"] ?? "")).toHaveProperty("keys");
  });
});

describe("overlay specifics", () => {
  it("cpu: threads equal the CPU limit; cuda: one GPU, cuda image and gpu setting", () => {
    const cpu = gateway(render("cpu")).container;
    const cpuEnv = Object.fromEntries((cpu.env ?? []).map((e) => [e.name, e.value]));
    expect(cpuEnv.PRISM_MODEL_THREADS).toBe(cpu.resources?.limits?.cpu);
    expect(cpuEnv.PRISM_MODEL_GPU).toBe("false");

    const cuda = gateway(render("cuda")).container;
    const cudaEnv = Object.fromEntries((cuda.env ?? []).map((e) => [e.name, e.value]));
    expect(cudaEnv.PRISM_MODEL_GPU).toBe("cuda");
    expect(cuda.resources?.limits?.["nvidia.com/gpu"]).toBe("1");
    expect(cuda.image).toMatch(/-cuda$/);
  });

  it("the init container's command is a real CLI subcommand", () => {
    const help = execFileSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "pull", "--help"], {
      encoding: "utf8",
      cwd: join(deployDir, ".."),
    });
    expect(help).toContain("--models-dir");
  });
});
