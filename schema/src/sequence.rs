//! Sequence diagrams for the protocol reference: one model, written as Mermaid source (for the
//! Markdown, which Git hosts render) and drawn as SVG (for the self-contained HTML).
//!
//! The SVG renderer covers exactly what the reference emits: participants, solid and dashed
//! arrows between them (or to oneself), notes over a participant, and `alt` blocks with
//! labelled branches. Drawing it here rather than shipping Mermaid's script keeps the HTML a
//! few kilobytes, offline and identical on every run; the Mermaid source is kept beside each
//! drawing.

use std::fmt::Write as _;

use crate::reference::html_escape;

/// How an arrow is drawn: a request (solid) or an answer or push (dashed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrow {
    Solid,
    Dashed,
}

/// One step of a diagram.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// A message from one participant to another (indexes into the participants).
    Message {
        from: usize,
        to: usize,
        text: String,
        arrow: Arrow,
    },
    /// A note over one participant.
    Note { over: usize, text: String },
    /// Alternatives: each branch has a label and its steps.
    Alt { branches: Vec<(String, Vec<Step>)> },
}

/// A sequence diagram.
#[derive(Debug, Clone)]
pub(crate) struct Sequence {
    /// Participant labels, left to right.
    pub participants: Vec<String>,
    /// The steps, top to bottom.
    pub steps: Vec<Step>,
}

/// Width of a character of the 13 px label font, on average, for layout.
const CHAR_W: f64 = 7.2;
const ROW: f64 = 34.0;
const HEAD_H: f64 = 34.0;
const MARGIN: f64 = 20.0;

/// Mermaid text: no `;`, `#` or line breaks in labels, as they end or escape a statement.
fn mermaid_text(s: &str) -> String {
    s.replace([';', '#', '\n'], " ")
}

impl Sequence {
    pub fn new(participants: &[&str]) -> Self {
        Self {
            participants: participants.iter().map(|p| (*p).to_owned()).collect(),
            steps: Vec::new(),
        }
    }

    /// The index of participant `label`, added on the right if new.
    pub fn participant(&mut self, label: &str) -> usize {
        if let Some(i) = self.participants.iter().position(|p| p == label) {
            return i;
        }
        self.participants.push(label.to_owned());
        self.participants.len() - 1
    }

    /// Every message step, in order (inside `alt` blocks too).
    pub fn messages(&self) -> Vec<(usize, usize, &str)> {
        fn walk<'s>(steps: &'s [Step], out: &mut Vec<(usize, usize, &'s str)>) {
            for s in steps {
                match s {
                    Step::Message { from, to, text, .. } => out.push((*from, *to, text)),
                    Step::Note { .. } => {}
                    Step::Alt { branches } => {
                        for (_, b) in branches {
                            walk(b, out);
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        out
    }

    /// The Mermaid source (`sequenceDiagram`), one statement a line.
    pub fn mermaid(&self) -> String {
        let mut out = String::from("sequenceDiagram\n");
        for (i, p) in self.participants.iter().enumerate() {
            let _ = writeln!(out, "    participant P{i} as {}", mermaid_text(p));
        }
        fn steps(out: &mut String, list: &[Step], depth: usize) {
            let pad = "    ".repeat(depth);
            for s in list {
                match s {
                    Step::Message {
                        from,
                        to,
                        text,
                        arrow,
                    } => {
                        let a = match arrow {
                            Arrow::Solid => "->>",
                            Arrow::Dashed => "-->>",
                        };
                        let _ = writeln!(out, "{pad}P{from}{a}P{to}: {}", mermaid_text(text));
                    }
                    Step::Note { over, text } => {
                        let _ = writeln!(out, "{pad}Note over P{over}: {}", mermaid_text(text));
                    }
                    Step::Alt { branches } => {
                        for (i, (label, b)) in branches.iter().enumerate() {
                            let kw = if i == 0 { "alt" } else { "else" };
                            let _ = writeln!(out, "{pad}{kw} {}", mermaid_text(label));
                            steps(out, b, depth + 1);
                        }
                        let _ = writeln!(out, "{pad}end");
                    }
                }
            }
        }
        steps(&mut out, &self.steps, 1);
        out
    }

    /// The x of each participant's lifeline and the total width: columns wide enough for the
    /// participant boxes and for the labels of the messages between neighbours.
    fn columns(&self) -> (Vec<f64>, f64) {
        let n = self.participants.len();
        let box_w: Vec<f64> = self
            .participants
            .iter()
            .map(|p| (p.chars().count() as f64 * CHAR_W + 24.0).max(80.0))
            .collect();
        // gap[i]: room needed between lifeline i and i + 1.
        let mut gap: Vec<f64> = (0..n.saturating_sub(1))
            .map(|i| (box_w[i] + box_w[i + 1]) / 2.0 + 30.0)
            .collect();
        for (from, to, text) in self.messages() {
            let (a, b) = (from.min(to), from.max(to));
            if a == b || b > gap.len() {
                continue;
            }
            let need = text.chars().count() as f64 * CHAR_W + 40.0;
            let have: f64 = gap[a..b].iter().sum();
            if need > have {
                let extra = (need - have) / (b - a) as f64;
                for g in &mut gap[a..b] {
                    *g += extra;
                }
            }
        }
        let mut xs = Vec::with_capacity(n);
        let mut x = MARGIN + box_w.first().copied().unwrap_or(80.0) / 2.0 + 10.0;
        for i in 0..n {
            xs.push(x);
            if let Some(g) = gap.get(i) {
                x += g;
            }
        }
        let width = x + box_w.last().copied().unwrap_or(80.0) / 2.0 + MARGIN + 10.0;
        (xs, width)
    }

    /// The diagram as an SVG element (inline in HTML; no external fonts or scripts).
    pub fn svg(&self) -> String {
        let (xs, width) = self.columns();
        let mut body = String::new();
        let mut y = MARGIN + HEAD_H + 16.0;
        let left = MARGIN;
        let right = width - MARGIN;
        fn draw(
            steps: &[Step],
            xs: &[f64],
            y: &mut f64,
            body: &mut String,
            bounds: (f64, f64),
            depth: usize,
        ) {
            for st in steps {
                match st {
                    Step::Message {
                        from,
                        to,
                        text,
                        arrow,
                    } => {
                        let (x1, x2) = (xs[*from], xs[*to]);
                        let dash = if *arrow == Arrow::Dashed {
                            " stroke-dasharray=\"5 4\""
                        } else {
                            ""
                        };
                        let label_x = if from == to {
                            x1 + 30.0
                        } else {
                            (x1 + x2) / 2.0
                        };
                        let anchor = if from == to { "start" } else { "middle" };
                        let _ = writeln!(
                            body,
                            "<text class=\"label\" x=\"{label_x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
                            *y - 6.0,
                            html_escape(text)
                        );
                        if from == to {
                            let _ = writeln!(
                                body,
                                "<path class=\"msg\" d=\"M{x1:.1},{:.1} h24 v12 h-22\" fill=\"none\" stroke=\"#1b1f24\"{dash} marker-end=\"url(#arrow)\"/>",
                                *y
                            );
                            *y += 12.0;
                        } else {
                            let end = if x2 > x1 { x2 - 2.0 } else { x2 + 2.0 };
                            let _ = writeln!(
                                body,
                                "<line class=\"msg\" x1=\"{x1:.1}\" y1=\"{y:.1}\" x2=\"{end:.1}\" y2=\"{y:.1}\" stroke=\"#1b1f24\"{dash} marker-end=\"url(#arrow)\"/>",
                                y = *y
                            );
                        }
                        *y += ROW;
                    }
                    Step::Note { over, text } => {
                        let w = text.chars().count() as f64 * CHAR_W + 20.0;
                        let x = xs[*over] - w / 2.0;
                        let _ = writeln!(
                            body,
                            "<rect class=\"note\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"22\" fill=\"#fff8c5\" stroke=\"#d4a72c\"/>\
                             <text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                            *y - 16.0,
                            xs[*over],
                            *y,
                            html_escape(text)
                        );
                        *y += ROW;
                    }
                    Step::Alt { branches } => {
                        let inset = 8.0 * depth as f64;
                        let (l, r) = (bounds.0 + inset, bounds.1 - inset);
                        let top = *y - 22.0;
                        let mut separators = Vec::new();
                        for (i, (label, b)) in branches.iter().enumerate() {
                            if i > 0 {
                                separators.push((*y - 22.0, label.clone()));
                            } else {
                                let _ = writeln!(
                                    body,
                                    "<text class=\"alt-label\" x=\"{:.1}\" y=\"{:.1}\">[{}]</text>",
                                    l + 44.0,
                                    top + 14.0,
                                    html_escape(label)
                                );
                            }
                            *y += 14.0;
                            draw(b, xs, y, body, bounds, depth + 1);
                        }
                        let bottom = *y - 18.0;
                        let _ = writeln!(
                            body,
                            "<rect class=\"alt\" x=\"{l:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#8c959f\"/>\
                             <path d=\"M{l:.1},{top:.1} h36 v12 l-6,6 h-30 z\" fill=\"#eaeef2\" stroke=\"#8c959f\"/>\
                             <text class=\"alt-kw\" x=\"{:.1}\" y=\"{:.1}\">alt</text>",
                            r - l,
                            bottom - top,
                            l + 6.0,
                            top + 13.0
                        );
                        for (sy, label) in separators {
                            let _ = writeln!(
                                body,
                                "<line x1=\"{l:.1}\" y1=\"{sy:.1}\" x2=\"{r:.1}\" y2=\"{sy:.1}\" stroke=\"#8c959f\" stroke-dasharray=\"3 3\"/>\
                                 <text class=\"alt-label\" x=\"{:.1}\" y=\"{:.1}\">[{}]</text>",
                                l + 44.0,
                                sy + 14.0,
                                html_escape(&label)
                            );
                        }
                        *y += 6.0;
                    }
                }
            }
        }
        draw(&self.steps, &xs, &mut y, &mut body, (left, right), 0);
        let height = y + HEAD_H;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sequence\" role=\"img\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"system-ui, sans-serif\" font-size=\"13\">"
        );
        out.push_str(
            "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#1b1f24\"/></marker></defs>\n",
        );
        let boxes = |out: &mut String, top: f64| {
            for (i, p) in self.participants.iter().enumerate() {
                let w = (p.chars().count() as f64 * CHAR_W + 24.0).max(80.0);
                let _ = writeln!(
                    out,
                    "<rect class=\"participant\" x=\"{:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{HEAD_H:.1}\" rx=\"4\" fill=\"#ddf4ff\" stroke=\"#54aeff\"/>\
                     <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    xs[i] - w / 2.0,
                    xs[i],
                    top + 21.0,
                    html_escape(p)
                );
            }
        };
        for x in &xs {
            let _ = writeln!(
                out,
                "<line class=\"lifeline\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#8c959f\" stroke-dasharray=\"2 3\"/>",
                MARGIN + HEAD_H,
                y
            );
        }
        boxes(&mut out, MARGIN);
        out.push_str(&body);
        boxes(&mut out, y);
        out.push_str("</svg>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sequence {
        let mut s = Sequence::new(&["Client", "Server"]);
        let room = s.participant("other members");
        s.steps.push(Step::Message {
            from: 0,
            to: 1,
            text: "message (id: 1)".into(),
            arrow: Arrow::Solid,
        });
        s.steps.push(Step::Alt {
            branches: vec![
                (
                    "handled".into(),
                    vec![
                        Step::Message {
                            from: 1,
                            to: 0,
                            text: "sent (id: 1)".into(),
                            arrow: Arrow::Dashed,
                        },
                        Step::Message {
                            from: 1,
                            to: room,
                            text: "message".into(),
                            arrow: Arrow::Dashed,
                        },
                    ],
                ),
                (
                    "rejected".into(),
                    vec![Step::Message {
                        from: 1,
                        to: 0,
                        text: "error <code: a; b>".into(),
                        arrow: Arrow::Dashed,
                    }],
                ),
            ],
        });
        s
    }

    #[test]
    fn mermaid_source() {
        assert_eq!(
            sample().mermaid(),
            "sequenceDiagram\n    participant P0 as Client\n    participant P1 as Server\n    participant P2 as other members\n    \
             P0->>P1: message (id: 1)\n    alt handled\n        P1-->>P0: sent (id: 1)\n        P1-->>P2: message\n    \
             else rejected\n        P1-->>P0: error <code: a  b>\n    end\n"
        );
    }

    #[test]
    fn svg_draws_every_message_between_the_right_lifelines() {
        let s = sample();
        let svg = s.svg();
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("class=\"msg\"").count(), s.messages().len());
        assert_eq!(
            svg.matches("class=\"participant\"").count(),
            2 * s.participants.len()
        );
        assert_eq!(
            svg.matches("class=\"lifeline\"").count(),
            s.participants.len()
        );
        assert_eq!(svg.matches("class=\"alt\"").count(), 1);
        // Labels are escaped, and every element opened is closed.
        assert!(svg.contains("error &lt;code: a; b&gt;"));
        assert!(!svg.contains("<code"));
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        // The arrow to the third lifeline ends left of its x and starts at the server's.
        let (xs, width) = s.columns();
        assert!(xs.windows(2).all(|w| w[0] < w[1]));
        assert!(xs.iter().all(|x| *x > 0.0 && *x < width));
        let label_room = "error <code: a; b>".len() as f64 * CHAR_W;
        assert!(
            xs[1] - xs[0] >= label_room,
            "the widest label fits between its lifelines"
        );
    }
}
