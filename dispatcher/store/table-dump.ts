/** Tests' view of a database file: every row of every table, in rowid order ("identical after restore" means equal dumps). */
import Database from 'better-sqlite3';

export function dumpTables(path: string): Record<string, unknown[]> {
  const db = new Database(path, { readonly: true });
  try {
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]
    ).map((t) => t.name);
    return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all()]));
  } finally {
    db.close();
  }
}

/** `integrity_check` and `foreign_key_check` of a database file: `{ integrity: 'ok', foreignKeyViolations: 0 }` when sound. */
export function checkDatabase(path: string): { integrity: string; foreignKeyViolations: number } {
  const db = new Database(path, { readonly: true });
  try {
    return { integrity: String(db.pragma('integrity_check', { simple: true })), foreignKeyViolations: (db.pragma('foreign_key_check') as unknown[]).length };
  } finally {
    db.close();
  }
}
