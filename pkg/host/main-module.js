// Whether the module at `moduleUrl` is the script Node was started with (`node pkg/cli.js …`), also
// through a symlink (npm's bin links) or under a path with spaces. Node-only: used by the CLI entry points.
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

export function isMainModule(moduleUrl) {
  try {
    return Boolean(process.argv[1]) && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
