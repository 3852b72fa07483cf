# gen_torch.py writes the small torch.save archives used by the tests of
# internal/weights. Run it with the Debian package python3-torch (1.13):
#
#     cd internal/weights/testdata && /usr/bin/python3 gen_torch.py
#
# Values are simple arithmetic sequences so that the Go tests can recompute
# them without Python: base(n) = (arange(n) - n/2) * 0.25, exact in every
# float type used here.
from collections import OrderedDict

import torch


def base(*shape, dtype=torch.float32):
    n = 1
    for d in shape:
        n *= d
    return ((torch.arange(n, dtype=torch.float64) - n // 2) * 0.25).reshape(shape).to(dtype)


# float16 and bfloat16 state dicts (OrderedDict, protocol 2, the default).
for name, dt in [("f16.pt", torch.float16), ("bf16.pt", torch.bfloat16)]:
    torch.save(OrderedDict([("a", base(3, 4, dtype=dt)), ("b", base(5, dtype=dt))]), name)

# Views sharing one storage: contiguous with an offset, transposed, a strided
# column, a broadcast-free 3-D permutation, a 0-dim scalar and an empty
# tensor. Saved as a plain dict.
x = base(3, 4)
y = base(2, 3, 4)
torch.save({
    "x": x,
    "row1": x[1],           # offset 4, contiguous
    "xt": x.t(),            # [4,3], stride (1,4)
    "col1": x[:, 1],        # [3], stride (4,), offset 1
    "yp": y.permute(2, 0, 1),  # [4,2,3], stride (1,12,4)
    "scalar": torch.tensor(2.5),
    "empty": torch.zeros(0, 3),
}, "views.pt")

# A nested checkpoint as training scripts write it.
torch.save({"state_dict": OrderedDict([("w", base(2, 2))]), "epoch": 3}, "nested_state_dict.pt")
torch.save({"model": {"w": base(2, 2)}, "step": 7}, "nested_model.pt")

# A module's state_dict (carries _metadata, pickled with BUILD) and a bare
# nn.Parameter (_rebuild_parameter), saved with pickle protocol 4 (FRAME,
# SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL).
lin = torch.nn.Linear(3, 2)
with torch.no_grad():
    lin.weight.copy_(base(2, 3))
    lin.bias.copy_(base(2))
sd = lin.state_dict()
torch.save(sd, "linear.pt")
torch.save({"p": torch.nn.Parameter(base(2, 3)), "b": base(2)}, "proto4.pt", pickle_protocol=4)

# Unsupported: an int64 tensor, and the legacy (pre-zip) format.
torch.save({"ids": torch.arange(4)}, "int64.pt")
torch.save({"w": base(2)}, "legacy.pt", _use_new_zipfile_serialization=False)
