"""The ported networks: sizes, checkpoint names, and agreement with the released forwards."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
from helpers import installed, needs

pytestmark = needs("torch", why="the networks are PyTorch modules")
if installed("torch"):
    import torch
    from hdnet_ros.nets import hdnet, posenet, refinet, resnet, rootnet
    from hdnet_ros.nets.joint_sets import H36M_17

    functional = torch.nn.functional

# The imported package, found without importing it (and torch).
NETS_DIR = Path(str(importlib.util.find_spec("hdnet_ros.nets").origin)).parent


M = TypeVar("M", bound="torch.nn.Module")


def _meta(build: Callable[[], M]) -> M:
    """Build on the meta device: shapes without memory or initialisation cost."""
    with torch.device("meta"):
        return build()


def _num_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# name: (module of hdnet_ros.nets, builder, parameters, state-dict entries) from
# shared/docs/seed-methods.md
SPEC: dict[str, tuple[str, str, int, int]] = {
    "hdnet": ("hdnet", "HDNet", 27_401_614, 450),
    "rootnet": ("rootnet", "RootNet", 33_997_634, 340),
    "posenet_muco": ("posenet", "posenet_muco", 34_340_736, 338),
    "posenet_h36m": ("posenet", "posenet_h36m", 34_291_392, 338),
    "refinet_a": ("refinet", "Patch2DModel", 827_806, 75),
    "refinet_b": ("refinet", "LinearModel", 4_301_869, 37),
    "refinet_c": ("refinet", "PointPatch", 2_935_244, 103),
}


@pytest.mark.parametrize("name", sorted(SPEC))
def test_parameter_and_state_dict_counts_match_the_spec(name: str) -> None:
    module_name, builder, params, entries = SPEC[name]
    module = _meta(getattr(importlib.import_module(f"hdnet_ros.nets.{module_name}"), builder))
    assert _num_params(module) == params
    assert len(module.state_dict()) == entries


def test_component_parameter_counts() -> None:
    # The spec's breakdown: ResNet-50 23,508,032 + FPN 2,754,304 + 8 branches 855,040 + ...
    net = _meta(hdnet.HDNet)
    assert _num_params(net.fpn.resnet) == 23_508_032
    assert _num_params(net.fpn) - _num_params(net.fpn.resnet) == 2_754_304
    branches = [getattr(net, f"layers_{k}_{i}") for k in ("hm", "dm") for i in range(2, 6)]
    assert sum(_num_params(b) for b in branches) == 855_040
    assert _num_params(net.out_heatmap) == 4_369
    assert _num_params(net.depth_gcn) == 264_192
    assert _num_params(net.out_bins) == 15_677
    assert _num_params(_meta(rootnet.RootNet).root) == 10_489_602
    pointnet = _meta(refinet.PointPatch)
    assert _num_params(pointnet.feat.stn) == 803_081
    assert _num_params(pointnet.feat.fstn) == 1_857_344


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_hdnet_state_dict_names_match_the_release() -> None:
    keys = _shapes(_meta(hdnet.HDNet))
    assert keys["fpn.resnet.layer1.0.conv1.weight"] == (64, 64, 1, 1)
    assert keys["fpn.toplayer.weight"] == (256, 2048, 1, 1)
    assert keys["fpn.flatlayer3.bias"] == (256,)
    assert keys["fpn.smooth1.weight"] == (256, 256, 3, 3)
    assert keys["layers_dm_3.4.weight"] == (64, 128, 3, 3)  # after the Upsample at index 3
    assert keys["layers_hm_2.3.weight"] == (64, 128, 3, 3)  # stride-4 branch: no Upsample
    assert "layers_hm_2.6.weight" not in keys
    assert keys["out_heatmap.weight"] == (17, 256, 1, 1)
    for layer in (0, 1):
        for part in ("layer_self", "layer_others"):
            assert keys[f"depth_gcn.gcn_layers.{layer}.{part}.weight"] == (256, 256, 1)
        assert keys[f"depth_gcn.gcn_layers.{layer}.bn.running_var"] == (256,)
    assert keys["out_bins.weight"] == (61, 256)
    # The adjacency and bin centres are buffers but not checkpoint entries.
    assert not any("att_" in k or "adj" in k or "bin_centers" in k for k in keys)
    buffers = dict(_meta(hdnet.HDNet).named_buffers())
    assert "depth_gcn.att_self_t" in buffers and "bin_centers" in buffers


def test_3dmppe_state_dict_names_match_the_release() -> None:
    root = _shapes(_meta(rootnet.RootNet))
    assert root["backbone.conv1.weight"] == (64, 3, 7, 7)
    assert root["backbone.layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert root["backbone.layer4.2.bn3.num_batches_tracked"] == ()
    deconv = {int(k.split(".")[2]) for k in root if k.startswith("root.deconv_layers.")}
    assert deconv == {0, 1, 3, 4, 6, 7}
    assert root["root.deconv_layers.0.weight"] == (2048, 256, 4, 4)
    assert root["root.xy_layer.weight"] == (1, 256, 1, 1)
    assert root["root.depth_layer.weight"] == (1, 2048, 1, 1)
    assert not any(k.startswith("backbone.fc") for k in root)
    assert _shapes(_meta(posenet.posenet_muco))["head.final_layer.weight"] == (21 * 64, 256, 1, 1)
    assert _shapes(_meta(posenet.posenet_h36m))["head.final_layer.weight"] == (18 * 64, 256, 1, 1)


def test_resnet_is_v1_5_like_torchvision() -> None:
    net = _meta(resnet.ResNet50)
    for stage in (net.layer2, net.layer3, net.layer4):
        first = stage[0]
        assert isinstance(first, resnet.Bottleneck) and first.downsample is not None
        assert first.conv1.stride == (1, 1) and first.conv2.stride == (2, 2)  # v1.5
        assert first.downsample[0].stride == (2, 2)
    assert [block.downsample is not None for block in net.layer1] == [True, False, False]
    assert len(net.state_dict()) == 318  # torchvision's 320 minus fc.weight, fc.bias


def test_refinet_state_dict_names_match_the_release() -> None:
    a = _shapes(_meta(refinet.Patch2DModel))
    assert a["conv1.weight"] == (64, 15, 7, 7) and a["conv1.bias"] == (64,)
    assert a["layer2.0.downsample.0.weight"] == (128, 64, 1, 1)
    assert a["fc.0.weight"] == (256, 128) and "fc.0.bias" not in a and "fc.4.bias" not in a
    assert a["fc.8.weight"] == (30, 256)
    b = _shapes(_meta(refinet.LinearModel))
    assert b["inputBlock.0.features.0.weight"] == (1024, 45)
    assert b["Block2.1.features.1.running_mean"] == (1024,)
    assert b["outputBlock.0.features.0.bias"] == (45,)
    c = _shapes(_meta(refinet.PointPatch))
    assert c["feat.stn.conv1.weight"] == (64, 3, 1)
    assert c["feat.stn.fc3.weight"] == (9, 256)
    assert c["feat.fstn.fc3.weight"] == (4096, 256)
    assert c["fc1.weight"] == (128, 1024) and "fc1.bias" not in c
    assert c["fc2.weight"] == (3, 128)


def _randomize_batchnorm(module: torch.nn.Module, seed: int) -> None:
    """Non-trivial BN statistics, so eval-mode BN is not the identity in the comparisons."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            stats = (0.1 * torch.randn(n, generator=gen), 0.5 + torch.rand(n, generator=gen))
            affine = (0.5 + torch.rand(n, generator=gen), 0.1 * torch.randn(n, generator=gen))
            m.load_state_dict(
                {"running_mean": stats[0], "running_var": stats[1], "weight": affine[0], "bias": affine[1]},
                strict=False,
            )


def _official_hdnet(
    net: hdnet.HDNet, x: torch.Tensor, coord_map: torch.Tensor, masks: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """HumanDepth model.py's forward, op for op (repeat_interleave pooling, -1e15 mask, eye)."""
    fpn = net.fpn
    r = fpn.resnet
    c2, c3, c4, c5 = r.features(x)

    def up_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return functional.interpolate(a, size=b.shape[-2:], mode="nearest") + b

    p5 = fpn.toplayer(c5)
    p4 = up_add(p5, fpn.flatlayer1(c4))
    p3 = up_add(p4, fpn.flatlayer2(c3))
    p2 = up_add(p3, fpn.flatlayer3(c2))
    p4, p3, p2 = fpn.smooth1(p4), fpn.smooth2(p3), fpn.smooth3(p2)
    hm_b = torch.cat([net.layers_hm_2(p2), net.layers_hm_3(p3), net.layers_hm_4(p4), net.layers_hm_5(p5)], 1)
    dm_b = torch.cat([net.layers_dm_2(p2), net.layers_dm_3(p3), net.layers_dm_4(p4), net.layers_dm_5(p5)], 1)
    hm = net.out_heatmap(hm_b)
    b, j, h, w = hm.shape
    m = masks.view(b, 1, h, w).repeat(1, j, 1, 1)
    hm = functional.softmax((m * hm + (1 - m) * -1e15).view(b, j, -1), dim=-1).view(b, j, h, w)
    pose = torch.sum(torch.repeat_interleave(hm, 2, dim=1) * coord_map.repeat(1, j, 1, 1), dim=[-2, -1])
    feat = torch.sum(torch.repeat_interleave(hm, dm_b.size(1), dim=1) * dm_b.repeat(1, j, 1, 1), dim=[-2, -1]).view(
        b, j, -1
    )
    adj = np.eye(j)
    for a, c in H36M_17.edges:
        adj[a, c] = adj[c, a] = 1
    att = torch.as_tensor(adj).float().view(1, j, j).repeat(b, 1, 1)
    att = att / att.sum(-1, keepdim=True)
    diag = torch.eye(j)
    for layer in net.depth_gcn.gcn_layers:
        assert isinstance(layer, hdnet.DepthGCNLayer)
        xt = feat.transpose(1, 2)
        fs, fo = layer.layer_self(xt).transpose(1, 2), layer.layer_others(xt).transpose(1, 2)
        out = torch.matmul(att * diag, fs) + torch.matmul(att * (1 - diag), fo)
        feat = functional.relu(layer.bn(out.transpose(1, 2))).transpose(1, 2)
    bins = functional.softmax(net.out_bins(feat.mean(1)), dim=-1)
    return hm, pose, bins, torch.sum(bins * torch.arange(net.num_bins).float(), -1)


def test_hdnet_matches_the_released_forward() -> None:
    torch.manual_seed(0)
    net = hdnet.HDNet()
    _randomize_batchnorm(net, 1)
    net.eval()
    with torch.no_grad():  # sharper heads, so the softmaxes are not uniform
        for layer in (net.out_heatmap, net.out_bins):
            layer.weight.mul_(50.0)
    size = 128  # any multiple of 32 works; the grid is size/4
    x = torch.randn(2, 3, size, size)
    grid = size // 4
    coord = torch.randn(1, 2, grid, grid).expand(2, -1, -1, -1)
    masks = torch.zeros(2, grid, grid)
    masks[0] = 1.0
    masks[1, 4:20, 10:25] = 1.0
    with torch.no_grad():
        ours = net(x, coord, masks)
        ref = _official_hdnet(net, x, coord, masks)
    for name, a, b in zip(("heatmap", "pose", "bins", "bin_idx"), ours, ref, strict=True):
        assert a.shape == b.shape, name
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)
    assert float(ours[0][1][:, ~masks[1].bool()].abs().max()) == 0.0  # masked cells get no weight
    assert float(ours[2].max()) > 2.0 / 61  # the check above compared non-uniform bins


def test_hdnet_mask_value_is_fp16_safe() -> None:
    assert torch.isfinite(torch.tensor(hdnet.MASK_LOGIT, dtype=torch.float16))
    logits = torch.tensor([hdnet.MASK_LOGIT, 3.0, -5.0])
    assert float(functional.softmax(logits, 0)[0]) == 0.0


def _peaked_volume(joints: int, peaks: list[tuple[int, int, int]], depth: int = 64, size: int = 64) -> torch.Tensor:
    vol = torch.full((1, joints, depth, size, size), -30.0)
    for j, (x, y, z) in enumerate(peaks):
        vol[0, j, z, y, x] = 30.0
    return vol.reshape(1, joints * depth, size, size)


def test_posenet_soft_argmax_finds_a_known_peak() -> None:
    peaks = [(10, 50, 3), (63, 0, 40), (31, 32, 63)]
    coords = posenet.soft_argmax_3d(_peaked_volume(3, peaks), num_joints=3)
    assert coords.shape == (1, 3, 3)
    torch.testing.assert_close(coords[0], torch.tensor(peaks, dtype=torch.float32), atol=1e-3, rtol=0)


def test_posenet_soft_argmax_equals_the_released_formula() -> None:
    gen = torch.Generator().manual_seed(0)
    hm = 3.0 * torch.randn(2, 2 * 64, 64, 64, generator=gen)
    prob = functional.softmax(hm.reshape(2, 2, -1), 2).reshape(2, 2, 64, 64, 64)
    one_based = torch.arange(1, 65).float()
    ref = torch.stack([(prob.sum(dims) * one_based).sum(2) - 1 for dims in ((2, 3), (2, 4), (3, 4))], dim=2)
    torch.testing.assert_close(posenet.soft_argmax_3d(hm, 2), ref, rtol=1e-5, atol=1e-4)


def test_rootnet_soft_argmax_and_depth_is_gamma_times_k() -> None:
    logits = torch.full((2, 1, 64, 64), -20.0)
    logits[0, 0, 5, 40] = 20.0
    logits[1, 0, 63, 0] = 20.0
    torch.testing.assert_close(
        rootnet.soft_argmax_2d(logits), torch.tensor([[40.0, 5.0], [0.0, 63.0]]), atol=1e-3, rtol=0
    )

    head = rootnet.RootHead().eval()
    c5 = torch.randn(2, 2048, 8, 8)
    k = torch.tensor([[1000.0], [5000.0]])
    with torch.no_grad():
        out = head(c5, k)
        gamma = head.depth_layer(c5.mean(dim=(2, 3), keepdim=True)).reshape(-1)
    torch.testing.assert_close(out[:, 2], gamma * k[:, 0])  # no activation, no sqrt


def _official_pointpatch(net: refinet.PointPatch, x: torch.Tensor) -> torch.Tensor:
    """RefiNet pointnet.py's forward, including its per-sample Python loop for the max."""
    feat = net.feat
    b, j = x.shape[:2]
    x = x.view(b * j, x.shape[2], x.shape[3]).permute(0, 2, 1)
    pts, valid = x[:, :, :-1], x[:, :, -1]

    def trans(v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.bmm(v.transpose(2, 1), t).transpose(2, 1)

    pts = trans(pts, feat.stn(pts))
    pts = functional.relu(feat.bn1(feat.conv1(pts)))
    pts = trans(pts, feat.fstn(pts))
    pts = feat.bn3(feat.conv3(functional.relu(feat.bn2(feat.conv2(pts)))))
    z = torch.empty((len(pts), 1024))
    for i in range(len(pts)):
        n = int(valid[i, 0].item())
        z[i] = pts[i].max(dim=1)[0] if n == 0 else pts[i, :, :n].max(dim=1)[0]
    out = net.fc2(net.relu(net.bn1(net.fc1(z))))
    return out.view(-1, j, 3)


def test_refinet_c_matches_the_released_loop() -> None:
    torch.manual_seed(0)
    net = refinet.PointPatch()
    _randomize_batchnorm(net, 2)
    net.eval()
    x = torch.randn(2, 15, 51, 3)
    counts = torch.randint(1, 51, (2, 15)).float()
    counts[0, 3] = 0.0
    counts[1, 4] = 7.9  # the release truncates with int()
    x[:, :, -1, 0] = counts
    with torch.no_grad():
        torch.testing.assert_close(net(x), _official_pointpatch(net, x), rtol=1e-4, atol=1e-5)


def test_masked_max_ignores_padded_points() -> None:
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 8, 10, generator=gen)
    counts = torch.tensor([4.0, 10.0, 0.0])
    expected = torch.stack([feats[0, :, :4].amax(1), feats[1].amax(1), feats[2].amax(1)])
    torch.testing.assert_close(refinet.masked_max(feats, counts), expected)
    padded = feats.clone()
    padded[0, :, 4:] = 1e6  # huge values in the padding must not leak into sample 0
    torch.testing.assert_close(refinet.masked_max(padded, counts)[0], expected[0])


def test_refinet_outputs_have_the_published_shapes() -> None:
    with torch.no_grad():
        assert refinet.Patch2DModel().eval()(torch.randn(2, 15, 40, 40)).shape == (2, 15, 2)
        assert refinet.LinearModel().eval()(torch.randn(2, 15, 3)).shape == (2, 15, 3)
        variant = refinet.LinearModel(attention=True, bigskip=True).eval()
        assert variant(torch.randn(2, 15, 3)).shape == (2, 15, 3)


def test_network_code_has_no_device_calls() -> None:
    # Parsed, so that docstrings saying "no .cuda()" do not count.
    for module in (hdnet, posenet, refinet, resnet, rootnet):
        tree = ast.parse(inspect.getsource(module))
        calls = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("cuda", "to")]
        assert calls == [], module.__name__


def test_numpy_modules_import_without_torch() -> None:
    code = (
        "import sys; import hdnet_ros.nets, hdnet_ros.nets.preprocessing, hdnet_ros.nets.codecs, "
        "hdnet_ros.nets.joint_sets; assert 'torch' not in sys.modules, 'torch imported'"
    )
    root = Path(hdnet.__file__).parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_every_torch_load_is_weights_only() -> None:
    """Every checkpoint read in the package refuses to run pickled code."""
    call = re.compile(r"\btorch\.load\(")
    for path in NETS_DIR.parent.rglob("*.py"):
        for line in path.read_text().splitlines():
            if call.search(line):
                assert "weights_only=True" in line, f"{path.name}: {line.strip()}"
