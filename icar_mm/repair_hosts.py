"""python -m icar_mm.repair_hosts: mend, in the installed hosts, what their own tools trip over before
icar_mm can be imported (see :mod:`icar_mm.compat`): mmaction2 1.1.0's list-valued metafile entries,
which stop mmaction2's tools/train.py and tools/test.py on every config with an ``mmaction::`` base."""

from .compat import repair_mmaction_metafiles

if __name__ == '__main__':
    repaired = repair_mmaction_metafiles()
    print('\n'.join(f'repaired {path}' for path in repaired) or 'nothing to repair: every metafile is readable')
