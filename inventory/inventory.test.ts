import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../common/errors.ts';
import { buildInventory, loadInventory } from './inventory.ts';

describe('inventory', () => {
  it('loads the seed cluster: node6..node14.lan, Pi 3B+, slots = CPUs', () => {
    const inv = loadInventory(fileURLToPath(new URL('./nodes.yaml', import.meta.url)), { required: true });
    expect(inv.nodes.map((n) => n.name)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14].map((i) => `node${i}.lan`));
    expect(inv.nodes.every((n) => n.model === 'pi3b+' && n.slots === 4)).toBe(true);
    expect(inv.byMac('B8-27-EB-10-00-07')?.name).toBe('node7.lan');
    expect(inv.byName('NODE14.lan')?.labels).toEqual({ site: 'home', role: 'spare' });
  });

  it('normalises MACs and serials, applies defaults', () => {
    const inv = buildInventory({
      defaults: { model: 'pi4', slots: 2 },
      nodes: [{ name: 'a', mac: 'DC-A6-32-01-02-03', serial: '100000003A5C9CB1' }],
    });
    expect(inv.nodes[0]).toMatchObject({ mac: 'dc:a6:32:01:02:03', serial: '3a5c9cb1', model: 'pi4', slots: 2 });
    expect(inv.bySerial('3A5C9CB1')?.name).toBe('a');
  });

  it('reports every problem at once with its path', () => {
    let err: unknown;
    try {
      buildInventory({
        nodes: [
          { name: 'a', mac: 'b8:27:eb:00:00:01', serial: '89eb9bb9' },
          { name: 'a', mac: 'B8:27:EB:00:00:01', serial: '89EB9BB9' },
          { name: 'c', mac: 'nope' },
          { name: 'd', mac: 'b8:27:eb:00:00:04', model: 'pi9' },
        ],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const paths = (err as ValidationError).problems.map((p) => p.path).sort();
    expect(paths).toEqual(['nodes[1].mac', 'nodes[1].name', 'nodes[1].serial', 'nodes[2].mac', 'nodes[3].model'].sort());
    expect((err as Error).message).toContain("duplicate name 'a' (also nodes[0])");
  });

  it('checks power blocks with the validator it is given, reporting them with the rest', () => {
    let err: unknown;
    try {
      buildInventory({ nodes: [{ name: 'a', mac: 'nope', power: { driver: 'warp' } }] }, 'inventory', {
        validatePower: (power, path) => ((power as { driver: string }).driver === 'warp' ? [{ path: `${path}.driver`, message: 'unknown driver' }] : []),
      });
    } catch (e) {
      err = e;
    }
    expect((err as ValidationError).problems.map((p) => p.path).sort()).toEqual(['nodes[0].mac', 'nodes[0].power.driver']);
  });

  it('a missing file is an empty inventory unless required', () => {
    expect(loadInventory('/nonexistent/nodes.yaml').nodes).toEqual([]);
    expect(() => loadInventory('/nonexistent/nodes.yaml', { required: true })).toThrow(/cannot read inventory/);
  });
});
