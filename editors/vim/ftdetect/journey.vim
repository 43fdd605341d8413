" .journey files: customer journeys as code
au BufRead,BufNewFile *.journey setfiletype journey
