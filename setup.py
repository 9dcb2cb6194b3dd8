"""icar_mm's package, in the OpenMMLab style: requirements read from requirements/*.txt, and the
configs, tools and model-index.yml placed in icar_mm/.mim/ (copies in wheels and sdists, links for
an editable install), where mmengine looks for `_base_ = 'icar_mm::...'` and mim for its tools."""

import os
import os.path as osp
import re
import shutil
import sys

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def parse_requirements(name):
    """The requirements of ``requirements/<name>``, following ``-r`` includes; comments dropped."""
    requirements = []
    with open(osp.join(ROOT, 'requirements', name), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line.startswith('-r '):
                requirements += parse_requirements(line[3:].strip())
            elif line:
                requirements.append(line)
    return requirements


def version():
    with open(osp.join(ROOT, 'icar_mm', '__init__.py'), encoding='utf-8') as f:
        return re.search(r"^__version__ = '([^']+)'", f.read(), re.M).group(1)


def add_mim_extension():
    """Fill icar_mm/.mim/ as mmengine's `pkg::` config paths and mim expect: copies for a wheel or
    an sdist, relative links for an editable install (edits to configs/ show at once)."""
    if {'develop', 'editable_wheel'} & set(sys.argv):
        mode = 'symlink' if os.name != 'nt' else 'copy'
    elif {'sdist', 'bdist_wheel', 'build', 'build_py'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(ROOT, 'icar_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(ROOT, name), osp.join(mim_path, name)
        if not osp.exists(src):
            continue  # building from an sdist: .mim/ already holds the copies
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    setup(
        name='icar_mm',
        version=version(),
        description='iCAR-pretrained encoders and text-generated cosine heads for OpenMMLab '
        '(detection, segmentation, action recognition)',
        long_description=readme,
        long_description_content_type='text/markdown',
        keywords='computer vision, open vocabulary, OpenMMLab, iCAR',
        license='Apache-2.0',
        packages=find_packages(include=['icar_mm', 'icar_mm.*']),
        include_package_data=True,
        package_data={
            'icar_mm': [
                'vocab/*.json',
                'vocab/*.txt',
                'vocab/*.tsv.gz',
                'model_configs/*.json',
                'multilabel/sentences/*.txt',
                'multilabel/sentences/*.json',
                '.mim/model-index.yml',
                '.mim/configs/**/*.py',
                '.mim/configs/**/*.yml',
                '.mim/tools/**/*.py',
                '.mim/tools/**/*.sh',
            ]
        },
        python_requires='>=3.9,<3.13',
        install_requires=parse_requirements('runtime.txt'),
        extras_require={
            'tests': parse_requirements('tests.txt'),
            'demo': parse_requirements('demo.txt'),
            'video': parse_requirements('optional.txt'),
            'deploy': parse_requirements('deploy.txt'),
        },
        classifiers=[
            'Development Status :: 4 - Beta',
            'Operating System :: OS Independent',
            'Programming Language :: Python :: 3',
            'Programming Language :: Python :: 3.9',
            'Programming Language :: Python :: 3.10',
            'Programming Language :: Python :: 3.11',
            'Programming Language :: Python :: 3.12',
            'Topic :: Scientific/Engineering :: Artificial Intelligence',
        ],
        zip_safe=False,
    )
