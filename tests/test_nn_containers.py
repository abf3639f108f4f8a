"""ModuleDict, ParameterList, ParameterDict, Unflatten: registration, state_dict keys as PyTorch."""
import numpy as np
import pytest

import chainrule as cr


def test_module_dict_registers_and_keys_as_pytorch():
    d = cr.nn.ModuleDict({"a": cr.nn.Linear(2, 3)})
    d["b"] = cr.nn.Linear(3, 1)
    assert list(d.keys()) == ["a", "b"] and "a" in d and len(d) == 2
    assert list(d.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert len(list(d.parameters())) == 4
    out = d["b"](d["a"](cr.ones(4, 2)))
    assert out.shape == (4, 1)
    d.pop("a")
    assert list(d) == ["b"]
    with pytest.raises(KeyError, match="no module 'zz'"):
        d["zz"]


def test_parameter_list_and_dict_wrap_and_train():
    pl = cr.nn.ParameterList([cr.ones(2), cr.nn.Parameter(cr.zeros(3))])
    pl.append(cr.ones(1))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    assert all(isinstance(p, cr.nn.Parameter) and p.requires_grad for p in pl)
    pd = cr.nn.ParameterDict({"w": cr.ones(3)})
    pd["b"] = cr.zeros(3)

    class M(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.pl, self.pd = pl, pd
    m = M()
    assert list(m.state_dict()) == ["pl.0", "pl.1", "pl.2", "pd.w", "pd.b"]
    loss = (pd["w"] * 2 + pd["b"]).sum() + pl[0].sum()
    loss.backward()
    np.testing.assert_array_equal(pd["w"].grad.numpy(), 2.0)
    np.testing.assert_array_equal(pl[0].grad.numpy(), 1.0)


def test_unflatten():
    x = cr.arange(24.0).reshape(2, 12)
    assert cr.nn.Unflatten(1, (3, 4))(x).shape == (2, 3, 4)
    assert cr.nn.Unflatten(-1, (2, -1))(x).shape == (2, 2, 6)
    with pytest.raises(ValueError, match="not the product"):
        cr.nn.Unflatten(1, (5, 2))(x)


def test_containers_state_dict_matches_pytorch():
    torch = pytest.importorskip("torch")
    t = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 3), "p": torch.nn.ParameterList(
        [torch.nn.Parameter(torch.ones(2))]), "q": torch.nn.ParameterDict({"s": torch.nn.Parameter(torch.ones(1))})})
    c = cr.nn.ModuleDict({"a": cr.nn.Linear(2, 3), "p": cr.nn.ParameterList([cr.ones(2)]),
                          "q": cr.nn.ParameterDict({"s": cr.ones(1)})})
    assert list(t.state_dict()) == list(c.state_dict())
