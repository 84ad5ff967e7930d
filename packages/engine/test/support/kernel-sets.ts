// The one place a test asks for the native kernels (in the spirit of tfjs-core's
// describeWithFlags): under the test command (DTF_NATIVE_REQUIRED) a missing addon fails the test;
// elsewhere the test is skipped, and mocha lists it as pending, never passed.
import type { Context } from "mocha";
import { jsKernels } from "../../src/kernels/js.ts";
import { nativeKernels, nativeLoadError } from "../../src/kernels/native.ts";
import type { Kernels } from "../../src/kernels/types.ts";

export type KernelSets = { js: Kernels; native: Kernels; both: [Kernels, Kernels] };

function required(ctx: Context): KernelSets {
  const native = nativeKernels();
  if (native) return { js: jsKernels, native, both: [jsKernels, native] };
  if (process.env.DTF_NATIVE_REQUIRED) {
    throw new Error(`the native addon (packages/engine/build/dtf_kernels.node) did not build or load: ${String(nativeLoadError())}`);
  }
  ctx.skip();
  throw new Error("unreachable: skip() throws");
}

/** A test comparing the TypeScript and native kernel sets: it gets both, or is failed or skipped as above. */
export function itWithBothKernels(title: string, body: (sets: KernelSets) => void | Promise<void>): Mocha.Test {
  return it(title, function () {
    return body(required(this));
  });
}
