/**
 * Renders deploy/ the way `kubectl kustomize` does, for the features our kustomizations use: resources
 * (files and directories), `labels` (with includeSelectors), `images`, and strategic-merge `patches`
 * (maps merged, containers/env/volumes/volumeMounts merged by name). Used where kubectl is missing;
 * where it is present the tests check both renderings agree.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseAllDocuments, parse as parseYaml } from "yaml";

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
};
type Json = Record<string, unknown>;

interface Kustomization {
  resources?: string[];
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean }[];
  images?: { name: string; newName?: string; newTag?: string }[];
  patches?: { path: string }[];
}

const MERGE_BY_NAME = new Set(["containers", "initContainers", "env", "volumes", "volumeMounts", "ports"]);

function isMap(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function strategicMerge(base: unknown, patch: unknown, key = ""): unknown {
  if (Array.isArray(base) && Array.isArray(patch) && MERGE_BY_NAME.has(key)) {
    const out = base.map((item) => structuredClone(item) as Json);
    const added: Json[] = [];
    for (const p of patch as Json[]) {
      const i = out.findIndex((b) => b.name === p.name);
      if (i >= 0) out[i] = strategicMerge(out[i], p) as Json;
      else added.push(structuredClone(p));
    }
    // kustomize puts elements only the patch has before the base's.
    return [...added, ...out];
  }
  if (isMap(base) && isMap(patch)) {
    const out: Json = { ...base };
    for (const [k, v] of Object.entries(patch)) out[k] = k in out ? strategicMerge(out[k], v, k) : structuredClone(v);
    return out;
  }
  return structuredClone(patch);
}

function readObjects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

const podTemplateOwners = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job"]);

function applyLabels(o: K8sObject, pairs: Record<string, string>, selectors: boolean): void {
  o.metadata.labels = { ...o.metadata.labels, ...pairs };
  if (!selectors) return;
  const spec = o.spec as Json | undefined;
  if (podTemplateOwners.has(o.kind) && spec) {
    const selector = (spec.selector ??= {}) as Json;
    selector.matchLabels = { ...(selector.matchLabels as Json), ...pairs };
    const template = (spec.template ??= {}) as Json;
    const metadata = (template.metadata ??= {}) as Json;
    metadata.labels = { ...(metadata.labels as Json), ...pairs };
  } else if (o.kind === "Service" && spec) {
    spec.selector = { ...(spec.selector as Json), ...pairs };
  } else if (o.kind === "PodDisruptionBudget" && spec) {
    const selector = (spec.selector ??= {}) as Json;
    selector.matchLabels = { ...(selector.matchLabels as Json), ...pairs };
  }
}

function applyImages(o: K8sObject, images: NonNullable<Kustomization["images"]>): void {
  const podSpec = ((o.spec as Json | undefined)?.template as Json | undefined)?.spec as Json | undefined;
  if (!podSpec) return;
  for (const list of ["initContainers", "containers"]) {
    for (const c of (podSpec[list] as Json[] | undefined) ?? []) {
      const [name, tag] = String(c.image).split(":");
      const rule = images.find((i) => i.name === name);
      if (rule) c.image = `${rule.newName ?? name}:${rule.newTag ?? tag ?? "latest"}`;
    }
  }
}

export function renderOwn(dir: string): K8sObject[] {
  const k = parseYaml(readFileSync(join(dir, "kustomization.yaml"), "utf8")) as Kustomization;
  let objects: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const path = join(dir, r);
    objects.push(...(statSync(path).isDirectory() ? renderOwn(path) : readObjects(path)));
  }
  for (const p of k.patches ?? []) {
    for (const patch of readObjects(join(dir, p.path))) {
      const i = objects.findIndex((o) => o.kind === patch.kind && o.metadata.name === patch.metadata.name);
      if (i < 0) throw new Error(`${dir}: patch target ${patch.kind}/${patch.metadata.name} not found`);
      objects[i] = strategicMerge(objects[i], patch) as K8sObject;
    }
  }
  for (const l of k.labels ?? []) for (const o of objects) applyLabels(o, l.pairs, l.includeSelectors ?? false);
  if (k.images) for (const o of objects) applyImages(o, k.images);
  objects = objects.map((o) => structuredClone(o));
  return objects;
}

export function kubectlAvailable(): boolean {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function renderKubectl(dir: string): K8sObject[] {
  const out = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8" });
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
}

export const deployDir = join(dirname(new URL(import.meta.url).pathname), "..", "..", "deploy");
