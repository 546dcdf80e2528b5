import { describe, expect, it } from 'vitest';
import { moduleName, parseModulesDep, selectModules } from './modules.ts';

const DEP = `kernel/drivers/net/usb/cdc_ether.ko: kernel/drivers/net/usb/usbnet.ko kernel/drivers/net/mii.ko
kernel/drivers/net/usb/usbnet.ko: kernel/drivers/net/mii.ko
kernel/drivers/net/mii.ko:
kernel/drivers/net/usb/smsc95xx.ko: kernel/drivers/net/usb/usbnet.ko kernel/drivers/net/mii.ko
kernel/drivers/usb/phy/phy-generic.ko:
kernel/fs/squashfs/squashfs.ko:
`;

describe('module selection', () => {
  it('normalises names like the kernel (dash = underscore, no .ko)', () => {
    expect(moduleName('kernel/drivers/usb/phy/phy-generic.ko')).toBe('phy_generic');
    expect(moduleName('a/b/virtio_net.ko.xz')).toBe('virtio_net');
  });

  it('expands dependencies, dependencies first, each once per group', () => {
    const sel = selectModules(parseModulesDep(DEP), new Set(['loop']), {
      pi3: ['phy-generic', 'smsc95xx', 'cdc_ether'],
      runtime: ['squashfs', 'loop', 'nonexistent'],
    });
    expect(sel.groups.pi3).toEqual([
      'kernel/drivers/usb/phy/phy-generic.ko',
      'kernel/drivers/net/mii.ko',
      'kernel/drivers/net/usb/usbnet.ko',
      'kernel/drivers/net/usb/smsc95xx.ko',
      'kernel/drivers/net/usb/cdc_ether.ko',
    ]);
    expect(sel.groups.runtime).toEqual(['kernel/fs/squashfs/squashfs.ko']);
    expect(sel.builtin).toEqual(['loop']);
    expect(sel.absent).toEqual(['nonexistent']);
    expect(sel.files).toHaveLength(6);
  });
});
