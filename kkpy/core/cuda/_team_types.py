"""numba-cuda typing of the GPU team member (see :mod:`kkpy.core.cuda._team`).

The member is a plain struct of its four ranks and the shared-memory
scratch array, built by ``make_cuda_member`` in the team driver.
"""
from __future__ import annotations

from numba import cuda, types
from numba.core.errors import TypingError
from numba.cuda.extending import (intrinsic, make_attribute_wrapper, models, overload,
                                  overload_method, register_model)

from .. import _team as _core_team
from ._team import _FIELDS, make_cuda_member

__all__ = ["CudaTeamMemberType"]


class CudaTeamMemberType(types.Type):
    """numba type of the GPU team member, parametrised by its scratch array type."""

    def __init__(self, scratch):
        self.scratch = scratch
        super().__init__(name=f"CudaTeamMember({scratch})")


@register_model(CudaTeamMemberType)
class _CudaTeamMemberModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        members = [(f, types.intp) for f in _FIELDS] + [("scratch", fe_type.scratch)]
        super().__init__(dmm, fe_type, members)


for _field in _FIELDS + ("scratch",):
    make_attribute_wrapper(CudaTeamMemberType, _field, "_" + _field)


@intrinsic
def _new_member(typingctx, league_rank, league_size, team_rank, team_size, scratch):
    from numba.cuda import cgutils

    def codegen(context, builder, sig, args):
        member = cgutils.create_struct_proxy(sig.return_type)(context, builder)
        for field, value, ty in zip(_FIELDS, args, sig.args):
            setattr(member, field, context.cast(builder, value, ty, types.intp))
        member.scratch = args[-1]
        return member._getvalue()

    sig = CudaTeamMemberType(scratch)(league_rank, league_size, team_rank, team_size, scratch)
    return sig, codegen


@overload(make_cuda_member, target="cuda")
def _make_cuda_member(league_rank, league_size, team_rank, team_size, scratch):
    return lambda league_rank, league_size, team_rank, team_size, scratch: _new_member(
        league_rank, league_size, team_rank, team_size, scratch)


def _register_getter(field):
    @intrinsic
    def get(typingctx, member):
        def codegen(context, builder, sig, args):
            from numba.cuda import cgutils

            return getattr(cgutils.create_struct_proxy(sig.args[0])(context, builder,
                                                                    value=args[0]), field)

        return types.intp(member), codegen

    overload_method(CudaTeamMemberType, field, target="cuda")(
        lambda member: (lambda member: get(member)))


for _field in _FIELDS:
    _register_getter(_field)


@overload_method(CudaTeamMemberType, "team_barrier", target="cuda")
def _team_barrier(member):
    def impl(member):
        cuda.syncthreads()
    return impl


# Inlined: a CUDA device function may only return arrays it was given.
@overload_method(CudaTeamMemberType, "team_scratch", target="cuda", inline="always")
def _team_scratch(member, level):
    if not isinstance(level, types.Integer):
        raise TypingError(f"team_scratch: level must be an integer, got {level}")
    return lambda member, level: member._scratch


def _check(name, member, begin, end):
    if not isinstance(member, CudaTeamMemberType):
        raise TypingError(f"{name}: first argument must be a team member, got {member}")
    for arg in (begin, end):
        if arg is not None and not isinstance(arg, (types.Integer, types.NoneType,
                                                    types.Omitted)):
            raise TypingError(f"{name}: bounds must be integers, got {arg}")


def _no_end(end):
    return end is None or isinstance(end, (types.NoneType, types.Omitted))


def _cyclic(name):
    def typer(member, begin, end=None):
        _check(name, member, begin, end)
        if _no_end(end):
            return lambda member, begin, end=None: range(member._team_rank, begin,
                                                         member._team_size)
        return lambda member, begin, end=None: range(begin + member._team_rank, end,
                                                     member._team_size)
    return typer


overload(_core_team.TeamThreadRange, target="cuda")(_cyclic("TeamThreadRange"))
overload(_core_team.TeamVectorRange, target="cuda")(_cyclic("TeamVectorRange"))


@overload(_core_team.ThreadVectorRange, target="cuda")
def _thread_vector_range(member, begin, end=None):
    _check("ThreadVectorRange", member, begin, end)
    # vector_length is 1 on the GPU too: a thread's vector range is all of it
    if _no_end(end):
        return lambda member, begin, end=None: range(0, begin)
    return lambda member, begin, end=None: range(begin, end)
