/** A view that draws one Cytoscape graph: fetch, sync in place, lay out when the shape changed. */
import type cytoscape from 'cytoscape';
import { h } from '../dom.js';
import { createGraph, keepBadgesAttached } from '../graph.js';
import type { Shell, View } from '../view.js';

export abstract class GraphView implements View {
  abstract readonly name: string;
  abstract readonly title: string;
  readonly element: HTMLElement;
  readonly cy: cytoscape.Core;
  protected readonly shell: Shell;
  protected readonly toolbar: HTMLElement;
  protected readonly canvas: HTMLElement;
  #loaded = false;
  #laidOut = false;

  constructor(shell: Shell, name: string, legend: (HTMLElement | string)[]) {
    this.shell = shell;
    this.toolbar = h('div', { class: 'toolbar' }, ...legend);
    this.canvas = h('div', { class: 'canvas', 'data-testid': `graph-${name}` });
    this.element = h('section', { class: 'view graph-view', 'data-testid': `view-${name}` }, this.toolbar, this.canvas);
    this.cy = createGraph(this.canvas);
    keepBadgesAttached(this.cy);
    this.cy.on('tap', 'node', (event) => {
      const node = event.target as cytoscape.NodeSingular;
      if (!node.isParent() && !node.hasClass('badge') && !node.data('synthetic')) shell.selectResource(node.id());
    });
  }

  /** Fetches and puts the elements into the graph; returns true when nodes were added or removed. */
  protected abstract load(): Promise<boolean>;
  /** Positions the nodes. */
  protected abstract layout(): void;

  async show(): Promise<void> {
    this.cy.resize();
    if (!this.#loaded) {
      this.#loaded = true;
      await this.refresh();
    } else if (this.#laidOut) this.fit();
  }

  /** Everything in view, but a small graph not blown up past legibility. */
  protected fit(): void {
    this.cy.fit(undefined, 40);
    if (this.cy.zoom() > 1.25) {
      this.cy.zoom(1.25);
      this.cy.center();
    }
  }

  async refresh(): Promise<void> {
    const changed = await this.load();
    if (changed || !this.#laidOut) {
      this.cy.resize();
      this.layout();
      this.fit();
      this.#laidOut = true;
    }
    this.element.dataset.ready = 'true';
  }

  focus(id: string): boolean {
    const node = this.cy.getElementById(id);
    if (node.empty()) return false;
    this.cy.elements(':selected').unselect();
    node.select();
    this.cy.animate({ center: { eles: node }, zoom: Math.max(this.cy.zoom(), 1.2) }, { duration: 300 });
    return true;
  }
}

export function legendSwatch(colour: string, text: string, shape: 'dot' | 'badge' | 'line' = 'dot'): HTMLElement {
  return h('span', { class: 'legend-item' }, h('span', { class: `swatch ${shape}`, style: `background:${colour}` }), text);
}
