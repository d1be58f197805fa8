/** The fixture adapter packs (src/adapters/fixture-pack.ts), built once per fixture version/seed and cached. */
import { cp, mkdtemp, readFile, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFixturePacks, type FixturePackPaths } from "../../src/adapters/fixture-pack.js";
import { fixturePaths } from "../helpers/paths.js";

const PACKS_VERSION = 1;

export async function fixturePacks(): Promise<FixturePackPaths> {
  const fx = fixturePaths();
  const dir = join(fx.dir, "packs");
  const stampFile = join(dir, "stamp.json");
  const want = JSON.stringify({ packs: PACKS_VERSION, fixtures: fx.version, seed: fx.seed });
  try {
    if ((await readFile(stampFile, "utf8")) === want) {
      const adaptersDir = join(dir, "adapters");
      return { adaptersDir, loraPackDir: join(adaptersDir, "writer"), promptPackDir: join(adaptersDir, "helper") };
    }
  } catch {
    // not built yet
  }
  const paths = await writeFixturePacks(dir, fx);
  await writeFile(`${stampFile}.tmp`, want);
  await rename(`${stampFile}.tmp`, stampFile);
  return paths;
}

/** A private, writable copy of the fixture adapters folder (for hot-swap tests). */
export async function copyOfFixturePacks(): Promise<FixturePackPaths> {
  const source = await fixturePacks();
  const adaptersDir = join(await mkdtemp(join(tmpdir(), "prism-packs-")), "adapters");
  await cp(source.adaptersDir, adaptersDir, { recursive: true });
  return { adaptersDir, loraPackDir: join(adaptersDir, "writer"), promptPackDir: join(adaptersDir, "helper") };
}
