import { describe, expect, it } from 'vitest';
import { barChartSvg, lineChartSvg, niceScale } from './plot.ts';

describe('bench plots', () => {
  it.each([
    [7, 8, 2],
    [183.8, 200, 50],
    [0, 1, 0.2],
    [1, 1, 0.2],
  ])('niceScale(%d) → max %d, step %d', (v, max, step) => {
    expect(niceScale(v)).toEqual({ max, step });
  });

  it('draws one bar per server and case, escaping labels', () => {
    const svg = barChartSvg({
      title: 'TFTP <MB/s>',
      unit: 'MB/s',
      categories: ['lock-step', '20 concurrent'],
      series: [
        { name: 'picluster', values: [100, 150] },
        { name: 'dnsmasq', values: [120, undefined] },
      ],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('TFTP &lt;MB/s&gt;');
    expect(svg.match(/<rect [^>]*height="[\d.]+" fill="#/g)?.length).toBe(3 + 2); // 3 bars + 2 legend swatches
  });

  it('draws a path per series and the markers', () => {
    const svg = lineChartSvg({
      title: 'done',
      xLabel: 's',
      yLabel: 'clients',
      series: [
        {
          name: 'a',
          points: [
            [0, 0],
            [1, 50],
            [2, 100],
          ],
        },
      ],
      markers: [{ x: 1.5, label: 'bound' }],
    });
    expect(svg.match(/<path /g)?.length).toBe(1);
    expect(svg).toContain('bound');
  });
});
