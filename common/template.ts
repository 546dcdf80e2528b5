/**
 * `{{placeholder}}` templates: the image's boot files (cmdline.txt, iPXE scripts) are written
 * with them by image/build and filled per node by the running master (dispatcher/netboot-directory.ts).
 * One filler serves both sides, and the master does not import the image builder for it.
 */

/** Fills a template; unknown placeholders are left alone. */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (m, k: string) => values[k] ?? m);
}
