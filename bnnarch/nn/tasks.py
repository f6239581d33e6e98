"""Task heads: losses, targets, decoding and metrics.

- classify: cross-entropy; metric top-1 accuracy.
- detect: CenterNet (Zhou et al. 2019, "Objects as Points"): Gaussian class
  heat-maps at stride 4 with the penalty-reduced focal loss (alpha 2, beta 4),
  L1 on box size and centre offset at object centres; decoding by 3x3
  max-pool peaks, top-k; metric mAP@0.5 (PASCAL VOC all-point AP, mean over
  classes present in the test set).
- segment: class-weighted cross-entropy (background weight 0.5); metric mean
  IoU over the 11 classes, from the confusion matrix of the whole test set.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

TASKS = ("classify", "detect", "segment")
STRIDE = 4
WH_SCALE = 16.0  # box sizes are regressed in units of 16 input pixels


# ---- detection ---------------------------------------------------------------

def det_targets(boxes: tuple[np.ndarray, ...], labels: tuple[np.ndarray, ...], classes: int,
                size: int) -> tuple[Tensor, Tensor, Tensor]:
    """(heat-map N x C x S x S, regression N x 4 x S x S [w, h, dx, dy], mask N x S x S)."""
    s = size // STRIDE
    n = len(boxes)
    hm = np.zeros((n, classes, s, s), np.float32)
    reg = np.zeros((n, 4, s, s), np.float32)
    mask = np.zeros((n, s, s), np.float32)
    yy, xx = np.mgrid[0:s, 0:s]
    for i, (bx, lb) in enumerate(zip(boxes, labels, strict=True)):
        for (x1, y1, x2, y2), c in zip(bx, lb, strict=True):
            cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
            px, py = min(int(cx), s - 1), min(int(cy), s - 1)
            sigma = max(0.5, min(x2 - x1, y2 - y1) / STRIDE / 6)
            g = np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * sigma**2))
            hm[i, c] = np.maximum(hm[i, c], g)
            reg[i, :, py, px] = ((x2 - x1) / WH_SCALE, (y2 - y1) / WH_SCALE, cx - px, cy - py)
            mask[i, py, px] = 1.0
    return torch.from_numpy(hm), torch.from_numpy(reg), torch.from_numpy(mask)


def det_loss(out: Tensor, hm: Tensor, reg: Tensor, mask: Tensor) -> Tensor:
    c = hm.shape[1]
    p = torch.sigmoid(out[:, :c]).clamp(1e-4, 1 - 1e-4)
    pos = hm.eq(1).float()
    pos_loss = -(torch.log(p) * (1 - p) ** 2 * pos).sum()
    neg_loss = -(torch.log(1 - p) * p**2 * (1 - hm) ** 4 * (1 - pos)).sum()
    npos = pos.sum().clamp(min=1)
    m = mask.unsqueeze(1)
    reg_loss = (F.l1_loss(out[:, c:] * m, reg * m, reduction="sum")) / npos
    return (pos_loss + neg_loss) / npos + reg_loss


def det_decode(out: Tensor, classes: int, k: int = 20) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image: (boxes k x 4, scores k, labels k)."""
    hm = torch.sigmoid(out[:, :classes])
    peaks = hm * (F.max_pool2d(hm, 3, 1, 1) == hm).float()
    n, _, s, _ = hm.shape
    scores, idx = peaks.flatten(1).topk(min(k, peaks[0].numel()), dim=1)
    res = []
    for i in range(n):
        cls = (idx[i] // (s * s)).numpy()
        pix = (idx[i] % (s * s)).numpy()
        py, px = pix // s, pix % s
        r = out[i, classes:].detach().numpy()
        w, h = r[0, py, px] * WH_SCALE, r[1, py, px] * WH_SCALE
        cx, cy = (px + r[2, py, px]) * STRIDE, (py + r[3, py, px]) * STRIDE
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
        res.append((boxes, scores[i].numpy(), cls))
    return res


def _iou(b: np.ndarray, gts: np.ndarray) -> np.ndarray:
    x1 = np.maximum(b[0], gts[:, 0])
    y1 = np.maximum(b[1], gts[:, 1])
    x2 = np.minimum(b[2], gts[:, 2])
    y2 = np.minimum(b[3], gts[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)

    def area(a: np.ndarray) -> np.ndarray:
        return (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])

    return inter / (area(b) + area(gts) - inter + 1e-9)


def mean_ap(dets: list[tuple[np.ndarray, np.ndarray, np.ndarray]], boxes: tuple[np.ndarray, ...],
            labels: tuple[np.ndarray, ...], classes: int, iou_thr: float = 0.5) -> float:
    """mAP@iou_thr, VOC all-point interpolated AP averaged over classes with ground truth."""
    aps = []
    for c in range(classes):
        npos = sum(int((lb == c).sum()) for lb in labels)
        if npos == 0:
            continue
        cand = [(float(s), i, b) for i, (bx, sc, cl) in enumerate(dets)
                for b, s, k in zip(bx, sc, cl, strict=True) if k == c]
        cand.sort(key=lambda t: -t[0])
        used = [np.zeros(int((lb == c).sum()), bool) for lb in labels]
        tp = np.zeros(len(cand))
        for j, (_, i, b) in enumerate(cand):
            gts = boxes[i][labels[i] == c]
            if len(gts) == 0:
                continue
            ious = _iou(b, gts)
            m = int(np.argmax(ious))
            if ious[m] >= iou_thr and not used[i][m]:
                used[i][m] = True
                tp[j] = 1
        ctp = np.cumsum(tp)
        rec = ctp / npos
        prec = ctp / np.arange(1, len(cand) + 1) if len(cand) else np.zeros(0)
        mrec = np.concatenate([[0.0], rec, [1.0]])
        mpre = np.concatenate([[0.0], prec, [0.0]])
        for k in range(len(mpre) - 2, -1, -1):
            mpre[k] = max(mpre[k], mpre[k + 1])
        ch = np.nonzero(mrec[1:] != mrec[:-1])[0]
        aps.append(float(np.sum((mrec[ch + 1] - mrec[ch]) * mpre[ch + 1])))
    return float(np.mean(aps)) if aps else 0.0


# ---- segmentation ----------------------------------------------------------------

def seg_loss(out: Tensor, masks: Tensor) -> Tensor:
    w = torch.ones(out.shape[1])
    w[0] = 0.5
    return F.cross_entropy(out, masks, weight=w)


def confusion(pred: Tensor, masks: Tensor, classes: int) -> Tensor:
    idx = masks.flatten() * classes + pred.flatten()
    return torch.bincount(idx, minlength=classes * classes).view(classes, classes)


def miou(conf: Tensor) -> float:
    conf = conf.double()
    inter = conf.diag()
    union = conf.sum(0) + conf.sum(1) - inter
    valid = union > 0
    return float((inter[valid] / union[valid]).mean())
